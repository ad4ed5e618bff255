package dev.kelpie.daemon.hypervisor.libkrun;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.daemon.hypervisor.GuestShutdown;
import dev.kelpie.daemon.hypervisor.ProcessIdentity;
import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.VmOperationUnsupportedException;
import dev.kelpie.daemon.hypervisor.VmRecord;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Stopping a VM that has no VMM-level stop, with real processes standing in for runners: the agent is asked first,
 * then SIGTERM, then SIGKILL, each only when the step before did not end the process.
 */
class LibkrunVmTest {

    @TempDir
    Path dir;
    private final List<Process> started = new ArrayList<>();
    private final List<Path> shutdownRequests = new ArrayList<>();

    @AfterEach
    void killStragglers() {
        started.forEach(Process::destroyForcibly);
    }

    private LibkrunVm runner(String script, GuestShutdown shutdown) throws Exception {
        Process p = new ProcessBuilder("sh", "-c", script).start();
        started.add(p);
        ProcessIdentity identity = ProcessIdentity.of(p.pid()).orElseThrow();
        VmRecord record = new VmRecord("libkrun", "vm1", p.pid(), identity.startMillis(), "kvm", dir,
                dir.resolve("agent.sock"), null, dir.resolve("console.log"), java.util.List.of(), identity.bootStart());
        return new LibkrunVm(record, p.toHandle(), shutdown);
    }

    @Test
    void aGuestThatPowersOffEndsTheStopWithoutSignals() throws Exception {
        Path marker = dir.resolve("terminated");
        LibkrunVm[] vm = new LibkrunVm[1];
        // The "runner" notes a SIGTERM if it gets one; the callback stands for the guest powering off, which ends
        // libkrun's process by itself.
        vm[0] = runner("trap 'touch " + marker + "; exit 0' TERM; while :; do sleep 0.05; done", (socket, within) -> {
            shutdownRequests.add(socket);
            vm[0].kill();
        });
        vm[0].stop(Duration.ofSeconds(5));
        assertEquals(List.of(dir.resolve("agent.sock")), shutdownRequests);
        assertFalse(vm[0].isAlive());
        assertFalse(Files.exists(marker), "no SIGTERM was needed");
    }

    @Test
    void anAgentThatCannotBeAskedLeavesItToSigterm() throws Exception {
        Path marker = dir.resolve("terminated");
        LibkrunVm vm = runner("trap 'touch " + marker + "; exit 0' TERM; while :; do sleep 0.05; done", (socket, within) -> {
            throw new VmException("no agent");
        });
        vm.stop(Duration.ofMillis(200));
        assertFalse(vm.isAlive());
        assertTrue(Files.exists(marker), "ended by SIGTERM");
    }

    @Test
    void anyFailureOfTheAgentRequestStillEndsTheVmBySignal() throws Exception {
        LibkrunVm vm = runner("while :; do sleep 0.05; done", (socket, within) -> {
            throw new IllegalStateException("the channel would not close");
        });
        vm.stop(Duration.ofMillis(100));
        assertFalse(vm.isAlive());
    }

    @Test
    void aRunnerIgnoringSigtermIsKilled() throws Exception {
        LibkrunVm vm = runner("trap '' TERM; while :; do sleep 0.05; done", (socket, within) -> {});
        vm.stop(Duration.ofMillis(100));
        assertFalse(vm.isAlive());
        assertTrue(vm.exited().isDone());
    }

    @Test
    void pauseAndSnapshotAreRefusedAsUnsupportedAndResumeIsHarmless() throws Exception {
        LibkrunVm vm = runner("sleep 60", (socket, within) -> {});
        assertThrows(VmOperationUnsupportedException.class, vm::pause);
        var e = assertThrows(VmOperationUnsupportedException.class, () -> vm.saveState(dir.resolve("m"), dir.resolve("d")));
        assertTrue(e.getMessage().contains("take a checkpoint snapshot instead"), e.getMessage());
        vm.resume();
        assertTrue(vm.isAlive());
        vm.kill();
        vm.exited().get();
        assertEquals("(no console output)", vm.consoleTail(5));
    }
}
