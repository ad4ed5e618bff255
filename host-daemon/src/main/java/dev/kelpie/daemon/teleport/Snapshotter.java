package dev.kelpie.daemon.teleport;

import dev.kelpie.daemon.hypervisor.SavedVmState;
import dev.kelpie.daemon.hypervisor.VmPlatform;
import dev.kelpie.daemon.hypervisor.VmOperationUnsupportedException;
import dev.kelpie.daemon.images.BootImage;
import dev.kelpie.daemon.images.ImageSource;
import dev.kelpie.daemon.sandboxes.LiveSandbox;
import dev.kelpie.daemon.sandboxes.SandboxConfig;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import dev.kelpie.daemon.sandboxes.SandboxRecord;
import dev.kelpie.teleport.pkg.BaseImageRef;
import dev.kelpie.teleport.pkg.BlobNames;
import dev.kelpie.teleport.pkg.PackageKind;
import dev.kelpie.teleport.pkg.PackageManifest;
import dev.kelpie.teleport.pkg.PackageWriter;
import dev.kelpie.teleport.pkg.PlatformRef;
import dev.kelpie.teleport.pkg.SourceOciImage;
import dev.kelpie.teleport.pkg.SourceSandbox;
import dev.kelpie.teleport.store.FileTrees;
import dev.kelpie.teleport.store.PackageStore;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.HashMap;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * Takes a sandbox into a package and publishes it: a {@code checkpoint} is the agent's workspace tar plus the
 * sandbox's settings; a {@code vm} is the backend's saved memory and writable disk. The sandbox runs on afterwards
 * (its exec streams only see a pause) unless asked to stop. A failure publishes nothing and leaves no file.
 */
public final class Snapshotter {

    private static final Logger LOG = Logger.getLogger(Snapshotter.class);
    static final String DEFAULT_WORKDIR = "/workspace";
    private static final int PIPE_BUFFER_BYTES = 1024 * 1024;

    private final SandboxManager sandboxes;
    private final ImageSource images;
    private final PackageStores stores;
    private final StagingArea staging;
    private final Clock clock;
    private final Supplier<String> packageIds;

    public Snapshotter(SandboxManager sandboxes, ImageSource images, PackageStores stores, StagingArea staging, Clock clock,
            Supplier<String> packageIds) {
        this.sandboxes = sandboxes;
        this.images = images;
        this.stores = stores;
        this.staging = staging;
        this.clock = clock;
        this.packageIds = packageIds;
    }

    /** What a snapshot published. */
    /** @param warnings what the caller should know, e.g. that env values went into an unsealed store */
    public record Snapshot(PackageManifest manifest, String storeName, List<String> warnings) {}

    /**
     * @param storeName empty for the default store
     * @param labels put on the package beside the sandbox's own
     */
    public Snapshot snapshot(String sandboxId, PackageKind kind, String storeName, Map<String, String> labels,
            boolean stopAfter) throws InterruptedException, IOException {
        PackageStore store = stores.get(storeName);
        String id = packageIds.get();
        long started = System.nanoTime();
        PackageManifest manifest;
        try {
            manifest = sandboxes.exclusively(sandboxId, live -> {
                try {
                    return write(live, kind, id, store, labels);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        LOG.infof("sandbox %s: %s package %s published to store %s (%d bytes) in %d ms", sandboxId, kind.wireName(), id,
                store.name(), manifest.storedSizeBytes(), (System.nanoTime() - started) / 1_000_000);
        if (stopAfter) {
            sandboxes.delete(sandboxId);
        }
        List<String> warnings = new ArrayList<>();
        if (!store.sealed() && !manifest.sourceSandbox().env().isEmpty()) {
            // Env values are where secrets live (API keys, tokens); a shared unsealed store shows them to its readers.
            warnings.add("the sandbox's env (" + String.join(", ", new java.util.TreeSet<>(manifest.sourceSandbox().env()
                    .keySet())) + ") is stored in the clear in store " + store.name() + ": anyone who can read that"
                    + " store can read the values; seal the store (kelpie.teleport.stores." + store.name()
                    + ".seal-key-file) to keep them secret");
            LOG.warnf("package %s: %s", id, warnings.getLast());
        }
        return new Snapshot(manifest, store.name(), List.copyOf(warnings));
    }

    private PackageManifest write(LiveSandbox live, PackageKind kind, String id, PackageStore store,
            Map<String, String> labels) throws IOException, InterruptedException {
        SandboxRecord record = live.record();
        if (record.oci() != null && kind == PackageKind.VM && record.oci().rootSha256().isEmpty()) {
            // Its memory caches the root's blocks, so its restore needs that very root, known by its hash.
            throw new VmOperationUnsupportedException("sandbox " + record.id() + " runs the OCI image "
                    + record.oci().repository() + "@" + record.oci().manifestDigest() + " from a root whose sha256"
                    + " was not recorded (it was created by an older daemon): take a checkpoint instead");
        }
        BootImage image = images.resolve(record.imageVersion(), record.arch());
        Path work = staging.newDirectory("snapshot-" + id);
        try (PackageWriter writer = PackageWriter.create(work.resolve("package"))) {
            PlatformRef platform = kind == PackageKind.VM ? saveVm(live, writer, work) : platformRef(sandboxes.vmPlatform(record.arch()));
            if (kind == PackageKind.CHECKPOINT) {
                exportWorkspace(live, writer);
            }
            Map<String, String> allLabels = new HashMap<>(record.config().labels());
            allLabels.putAll(labels);
            PackageManifest manifest = writer.finish(new PackageManifest(PackageManifest.FORMAT_VERSION, id, kind,
                    new BaseImageRef(image.version(), image.arch(), image.kernelSha256(), image.rootfsSha256()), platform,
                    clock.millis(), source(record, kind), allLabels, null));
            store.publish(id, writer.directory());
            return manifest;
        } finally {
            FileTrees.deleteUnchecked(work);
        }
    }

    private static PlatformRef saveVm(LiveSandbox live, PackageWriter writer, Path work)
            throws IOException, InterruptedException {
        SavedVmState state = live.vm().saveState(work.resolve("memory"), work.resolve("disk"));
        try {
            writer.addCompressedFile(BlobNames.VM_MEMORY, state.memoryFile());
            writer.addCompressedFile(BlobNames.VM_DISK, state.diskFile());
        } finally {
            Files.deleteIfExists(state.memoryFile());
            Files.deleteIfExists(state.diskFile());
        }
        return platformRef(state.platform());
    }

    /** The agent writes the tar into a pipe that the writer compresses from: no full copy on disk. */
    private static void exportWorkspace(LiveSandbox live, PackageWriter writer) throws IOException, InterruptedException {
        PipedInputStream in = new PipedInputStream(PIPE_BUFFER_BYTES);
        PipedOutputStream pipe = new PipedOutputStream(in);
        CompletableFuture<Void> exported = new CompletableFuture<>();
        Thread.ofVirtual().name("workspace-export-" + live.record().id()).start(() -> {
            try (OutputStream out = pipe) {
                AgentWorkspace.export(live.agent(), out);
                exported.complete(null);
            } catch (Throwable t) {
                exported.completeExceptionally(t);
            }
        });
        // A failed export closes the pipe early, so the writer sees a short tar; the export's own failure decides.
        try (in) {
            writer.addCompressed(BlobNames.WORKSPACE, in);
        }
        try {
            exported.get();
        } catch (ExecutionException e) {
            switch (e.getCause()) {
                case RuntimeException r -> throw r;
                case IOException io -> throw io;
                default -> throw new IOException("workspace export failed: " + e.getCause(), e.getCause());
            }
        }
    }

    static PlatformRef platformRef(VmPlatform p) {
        return new PlatformRef(p.hypervisor(), p.hypervisorVersion(), p.machineType(), p.cpuModel());
    }

    private static SourceSandbox source(SandboxRecord record, PackageKind kind) {
        SandboxConfig c = record.config();
        return new SourceSandbox(record.id(), c.vcpuCount(), c.memoryMib(), c.diskSizeMib(), c.env(), c.labels(),
                c.ttlMs(), c.idleTimeoutMs(), DEFAULT_WORKDIR, PackagedNetwork.toSource(c.network()),
                record.oci() == null ? null : new SourceOciImage(record.oci().reference(), record.oci().manifestDigest(),
                        record.oci().repository(), kind == PackageKind.VM ? record.oci().rootSha256() : null));
    }
}
