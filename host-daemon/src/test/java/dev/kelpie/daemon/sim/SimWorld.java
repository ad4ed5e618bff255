package dev.kelpie.daemon.sim;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.datatype.jdk8.Jdk8Module;
import dev.kelpie.daemon.sandboxes.FakeHypervisor;
import dev.kelpie.daemon.sandboxes.FakeHypervisor.FakeVm;
import dev.kelpie.daemon.sandboxes.InProcessAgents;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

/**
 * What outlives a simulated daemon: the host's VMs and their agents, the state directory, the clock, the faults, and
 * the counters that name sandboxes and packages.
 */
final class SimWorld {

    static final Instant START = Instant.parse("2026-11-29T00:00:00Z");
    private static final byte[] WORKSPACE_TAR = workspaceTar();

    final long seed;
    final Path stateDir;
    final SimReleases releases;
    final ScheduledExecutorService watchdog;
    final SimClock clock = new SimClock(START);
    final FakeHypervisor vms = new FakeHypervisor();
    final InProcessAgents agents = new InProcessAgents();
    final Faults faults = new Faults();
    final ObjectMapper json = new ObjectMapper().registerModule(new Jdk8Module());
    final AtomicInteger sandboxIds = new AtomicInteger();
    final AtomicInteger packageIds = new AtomicInteger();
    final Transitions transitions = new Transitions();
    /** Sandboxes whose Delete answered OK: none of them may ever be seen again. */
    final Set<String> deleted = ConcurrentHashMap.newKeySet();
    private final boolean plantedBug;
    private final Set<String> silentAgents = ConcurrentHashMap.newKeySet();

    SimWorld(long seed, Path stateDir, SimReleases releases, ScheduledExecutorService watchdog, boolean plantedBug) {
        this.seed = seed;
        this.stateDir = stateDir;
        this.releases = releases;
        this.watchdog = watchdog;
        this.plantedBug = plantedBug;
    }

    /** A new VM's agent holds a small workspace, and its streams break when the VM dies. */
    void watch(FakeVm vm) {
        String socket = vm.record().agentSocket().toString();
        agents.workspaces.putIfAbsent(socket, WORKSPACE_TAR);
        vm.exited().thenRun(() -> agents.disconnect(socket));
    }

    void agentNeverAnswered(String socket) {
        silentAgents.add(socket);
    }

    /**
     * The planted bug, for showing that the invariants catch a skipped cleanup: a VM whose agent never answered
     * survives both the kill and the leftover sweep of the failed create.
     */
    boolean plantedBugSpares(FakeVm vm) {
        return plantedBug && silentAgents.contains(vm.record().agentSocket().toString());
    }

    private static byte[] workspaceTar() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(bytes)) {
            byte[] content = "print('hello from the simulation')\n".getBytes(StandardCharsets.UTF_8);
            TarArchiveEntry entry = new TarArchiveEntry("main.py");
            entry.setSize(content.length);
            tar.putArchiveEntry(entry);
            tar.write(content);
            tar.closeArchiveEntry();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }
}
