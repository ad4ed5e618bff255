package dev.kelpie.daemon.hypervisor.libkrun;

import dev.kelpie.daemon.hypervisor.VmLogs;
import dev.kelpie.daemon.hypervisor.GuestShutdown;
import dev.kelpie.daemon.hypervisor.SavedVmState;
import dev.kelpie.daemon.hypervisor.VmHandle;
import dev.kelpie.daemon.hypervisor.VmOperationUnsupportedException;
import dev.kelpie.daemon.hypervisor.VmProcess;
import dev.kelpie.daemon.hypervisor.VmRecord;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * A VM inside a runner process. libkrun 1.x has no control channel: no pause, no snapshot, no stop. A stop asks the
 * guest's agent to power off, then signals the runner: SIGTERM (the runner runs with {@code -Xrs}, so it ends at
 * once), then SIGKILL.
 */
final class LibkrunVm implements VmHandle {

    /** After SIGTERM a runner ends within milliseconds; this only bounds a wedged one before SIGKILL. */
    static final Duration TERM_GRACE = Duration.ofSeconds(2);

    private final VmRecord record;
    private final VmProcess runner;
    private final GuestShutdown guestShutdown;

    LibkrunVm(VmRecord record, ProcessHandle process, GuestShutdown guestShutdown) {
        this.record = record;
        this.runner = new VmProcess(record, process);
        this.guestShutdown = guestShutdown;
    }

    @Override
    public VmRecord record() {
        return record;
    }

    @Override
    public boolean isAlive() {
        return runner.isAlive();
    }

    @Override
    public CompletableFuture<Void> exited() {
        return runner.exited();
    }

    @Override
    public void pause() {
        throw new VmOperationUnsupportedException("libkrun 1.x cannot pause a VM (sandbox on the libkrun backend)");
    }

    /** Nothing to do: a libkrun VM is never paused. */
    @Override
    public void resume() {}

    @Override
    public SavedVmState saveState(Path memoryFile, Path diskFile) {
        throw new VmOperationUnsupportedException("libkrun 1.x has no snapshot API, so a sandbox on the libkrun backend"
                + " cannot be saved as a vm package; take a checkpoint snapshot instead");
    }

    @Override
    public SavedVmState saveLocalState(Path workDir) {
        throw new VmOperationUnsupportedException("libkrun 1.x can neither save a VM's device state nor map guest RAM"
                + " from a file, so a sandbox on the libkrun backend cannot be forked; take a checkpoint snapshot and"
                + " restore it once per copy instead, or run the sandbox on the qemu backend");
    }

    @Override
    public void stop(Duration grace) throws InterruptedException {
        if (!runner.isAlive()) {
            return;
        }
        long deadline = System.nanoTime() + grace.toNanos();
        try {
            guestShutdown.request(record.agentSocket(), grace);
        } catch (RuntimeException e) {
            // An agent that cannot be asked (crashed guest, wedged agent, a channel that would not close) leaves the
            // signals below to end the VM: a stop must not fail before it has tried them.
        }
        if (runner.awaitExit(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())))) {
            return;
        }
        runner.terminate();
        if (!runner.awaitExit(TERM_GRACE)) {
            runner.killAndAwait("libkrun runner");
        }
    }

    @Override
    public void kill() {
        runner.kill();
    }

    /** The guest console; a libkrun without {@code krun_set_console_output} wrote it into the runner's log instead. */
    @Override
    public String consoleTail(int lines) {
        Path console = record.consoleLog();
        return VmLogs.tail(Files.exists(console) ? console : new LibkrunRuntimeFiles(record.runtimeDir()).runnerLog(), lines);
    }

    @Override
    public String describe() {
        return "libkrun runner pid " + record.pid() + " (" + record.accelerator() + ")";
    }
}
