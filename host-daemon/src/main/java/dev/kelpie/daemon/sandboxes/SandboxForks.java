package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.agent.GuestRefresh;
import dev.kelpie.daemon.errors.InvalidRequestException;
import dev.kelpie.daemon.hypervisor.SavedVmState;
import dev.kelpie.daemon.hypervisor.SparseFiles;
import dev.kelpie.daemon.hypervisor.VmOperationUnsupportedException;
import dev.kelpie.daemon.network.PortForward;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * Copies a running or paused sandbox: one local snapshot of its VM (frozen RAM, device state, disk, one instant; the source runs
 * on), then each copy is created like any sandbox (admission counts it) and resumed from that snapshot with its own
 * disk clone, mapping the frozen RAM copy-on-write. Before a copy is READY it gets the treatment a restore gets: its
 * clock stepped, entropy reseeded with a generation of its own, its hostname set to its id. All or nothing: when a
 * copy fails, the copies made so far are deleted, and the snapshot's files go either way.
 *
 * <p>The snapshot's work directory is a runtime directory without a record, so a daemon killed mid-fork has recovery
 * remove it and its frozen RAM (clones made by then keep their own links to the RAM).
 */
final class SandboxForks {

    private static final Logger LOG = Logger.getLogger(SandboxForks.class);
    /** A bound on one call's work; a caller wanting more calls again (forks of a fork work too). */
    static final int MAX_COPIES_PER_FORK = 16;
    static final String WORK_DIR_PREFIX = "fork-";

    private final SandboxManager sandboxes;
    private final SandboxStore store;
    private final Clock clock;
    private final SecureRandom random;
    private final Supplier<String> ids;

    SandboxForks(SandboxManager sandboxes, SandboxStore store, Clock clock, SecureRandom random, Supplier<String> ids) {
        this.sandboxes = sandboxes;
        this.store = store;
        this.clock = clock;
        this.random = random;
        this.ids = ids;
    }

    List<SandboxRecord> fork(String sourceId, int count, Map<String, String> labels) throws InterruptedException {
        if (count < 1 || count > MAX_COPIES_PER_FORK) {
            throw new InvalidRequestException("count must be 1 to " + MAX_COPIES_PER_FORK + ", got " + count);
        }
        SandboxRecord source = sandboxes.get(sourceId);
        for (PortForward f : source.config().network().forwards()) {
            if (f.hostPort() != 0) {
                throw new VmOperationUnsupportedException("sandbox " + sourceId + " publishes guest port " + f.guestPort()
                        + " on fixed host port " + f.hostPort() + ", which its copies cannot share; fork a sandbox that"
                        + " publishes on host port 0 (picked per sandbox)");
            }
        }
        Path work = store.runtimeDir(WORK_DIR_PREFIX + ids.get());
        long started = System.nanoTime();
        SavedVmState frozen = null;
        try {
            Files.createDirectories(work);
            // A paused source is frozen already: it is saved as it is and stays paused.
            frozen = sandboxes.exclusivelyEvenPaused(sourceId, live -> live.vm().saveLocalState(work));
            long frozenMs = (System.nanoTime() - started) / 1_000_000;
            // Copies resume the source's memory, so they boot exactly what it runs: its resolved image version and
            // arch, and an OCI root by the exact digest (the memory caches the root's blocks).
            SandboxConfig c = source.config();
            SandboxConfig sourceConfig = new SandboxConfig(source.imageVersion(), c.vcpuCount(), c.memoryMib(),
                    c.diskSizeMib(), c.env(), c.labels(), c.ttlMs(), c.idleTimeoutMs(), c.network(), c.idleAction(),
                    source.arch(), source.oci() == null ? c.ociImage() : source.oci().manifestDigest());
            List<SandboxRecord> copies = copies(frozen, sourceConfig, labels, count, work);
            LOG.infof("sandbox %s forked into %s: snapshot in %d ms, copies ready after %d ms", sourceId,
                    copies.stream().map(SandboxRecord::id).toList(), frozenMs, (System.nanoTime() - started) / 1_000_000);
            return copies;
        } catch (IOException e) {
            throw new UncheckedIOException("preparing the fork of sandbox " + sourceId + " in " + work + " failed: "
                    + e.getMessage(), e);
        } finally {
            // Every copy holds its own link to the frozen RAM by now: the snapshot's name can go.
            if (frozen != null && frozen.sharedRam().isPresent()) {
                deleteQuietly(frozen.sharedRam().get());
            }
            store.deleteRuntimeDir(work.getFileName().toString());
        }
    }

    private List<SandboxRecord> copies(SavedVmState frozen, SandboxConfig sourceConfig, Map<String, String> labels,
            int count, Path work) throws IOException, InterruptedException {
        Map<String, String> allLabels = new HashMap<>(sourceConfig.labels());
        allLabels.putAll(labels);
        SandboxConfig config = new SandboxConfig(sourceConfig.imageVersion(), sourceConfig.vcpuCount(),
                sourceConfig.memoryMib(), sourceConfig.diskSizeMib(), sourceConfig.env(), allLabels, sourceConfig.ttlMs(),
                sourceConfig.idleTimeoutMs(), sourceConfig.network(), sourceConfig.idleAction(), sourceConfig.arch(),
                sourceConfig.ociImage());
        // Distinct per copy: two copies that saw the same generation would take each other for one.
        long generation = clock.millis();
        List<SandboxRecord> made = new ArrayList<>();
        try {
            for (int i = 0; i < count; i++) {
                Path disk = work.resolve("disk-" + i);
                SparseFiles.copy(frozen.diskFile(), disk);
                long copyGeneration = generation + i;
                made.add(sandboxes.create(config, new Launch(Optional.of(frozen.withDisk(disk)),
                        agent -> refresh(agent, copyGeneration))));
            }
            return made;
        } catch (IOException | RuntimeException | InterruptedException e) {
            for (SandboxRecord copy : made) {
                try {
                    sandboxes.delete(copy.id());
                } catch (RuntimeException | InterruptedException undo) {
                    e.addSuppressed(undo);
                }
            }
            throw e;
        }
    }

    private void refresh(io.grpc.ManagedChannel agent, long generation) {
        GuestRefresh.syncClock(agent, clock.millis());
        GuestRefresh.reseed(agent, random, generation);
    }

    private static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            LOG.warnf("removing the fork snapshot's RAM file %s failed: %s; the next daemon start sweeps it", file,
                    e.getMessage());
        }
    }
}
