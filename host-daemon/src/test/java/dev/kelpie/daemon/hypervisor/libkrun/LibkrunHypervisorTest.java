package dev.kelpie.daemon.hypervisor.libkrun;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.hypervisor.VmOperationUnsupportedException;
import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Finding and ending runners the daemon has no handle on; what libkrun cannot do at all. */
class LibkrunHypervisorTest {

    @TempDir
    Path vm;
    private final List<Process> started = new ArrayList<>();
    private final LibkrunHypervisor hypervisor = new LibkrunHypervisor(new LibkrunSettings("libkrun.so.1", List.of(), 2,
            Accelerator.KVM, Path.of("/dev/kvm")), RunnerLauncher.javaRunner(), (socket, within) -> {}, new ObjectMapper(), false, "x86_64");

    @AfterEach
    void killStragglers() {
        started.forEach(Process::destroyForcibly);
    }

    /** A stand-in runner: a process naming the runtime directory's runner.json on its command line, as runners do. */
    private Process standIn(LibkrunRuntimeFiles files) throws Exception {
        Files.writeString(files.runnerConfig(), "{}");
        Process p = new ProcessBuilder("tail", "-f", files.runnerConfig().toString()).start();
        started.add(p);
        return p;
    }

    @Test
    void aLeftoverRunnerIsFoundByItsPidFileAndGoneWhenTheSweepReturns() throws Exception {
        LibkrunRuntimeFiles files = new LibkrunRuntimeFiles(vm);
        Process runner = standIn(files);
        Process bystander = new ProcessBuilder("sleep", "60").start();
        started.add(bystander);
        Files.writeString(files.pidFile(), Long.toString(runner.pid()));

        hypervisor.killLeftovers(vm);
        assertFalse(runner.isAlive(), "killed, and waited for");
        assertTrue(bystander.isAlive());
    }

    @Test
    void withoutAPidFileTheRunnerIsFoundByItsCommandLine() throws Exception {
        LibkrunRuntimeFiles files = new LibkrunRuntimeFiles(vm);
        Process runner = standIn(files);
        hypervisor.killLeftovers(vm);
        assertFalse(runner.isAlive());
    }

    @Test
    void aRecycledPidIsLeftAlone() throws Exception {
        LibkrunRuntimeFiles files = new LibkrunRuntimeFiles(vm);
        Files.writeString(files.runnerConfig(), "{}");
        Process other = new ProcessBuilder("sleep", "60").start();
        started.add(other);
        Files.writeString(files.pidFile(), Long.toString(other.pid()));
        hypervisor.killLeftovers(vm);
        assertTrue(other.isAlive(), "the pid names a process that is no runner of this directory");
    }

    @Test
    void savedStatesAreRefusedAsUnsupported() {
        var e = assertThrows(VmOperationUnsupportedException.class, () -> hypervisor.restore(null, null));
        assertTrue(e.getMessage().contains("restore a checkpoint package"), e.getMessage());
        assertEquals("libkrun", hypervisor.platform("aarch64").hypervisor());
    }
}
