package dev.kelpie.daemon.hypervisor.libkrun;

import dev.kelpie.daemon.hypervisor.ConsoleTail;
import dev.kelpie.daemon.hypervisor.GuestShutdown;
import dev.kelpie.daemon.hypervisor.ProcessIdentity;
import dev.kelpie.daemon.hypervisor.SavedVmState;
import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.VmHandle;
import dev.kelpie.daemon.hypervisor.VmOperationUnsupportedException;
import dev.kelpie.daemon.hypervisor.VmRecord;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A VM inside a runner process. libkrun 1.x has no control channel: no pause, no snapshot, no stop. A stop asks the
 * guest's agent to power off, then signals the runner: SIGTERM (the runner runs with {@code -Xrs}, so it ends at
 * once), then SIGKILL.
 */
final class LibkrunVm implements VmHandle {

    /** After SIGTERM a runner ends within milliseconds; this only bounds a wedged one before SIGKILL. */
    static final Duration TERM_GRACE = Duration.ofSeconds(2);
    static final Duration KILL_TIMEOUT = Duration.ofSeconds(10);

    private final VmRecord record;
    private final ProcessHandle process;
    private final GuestShutdown guestShutdown;
    private final CompletableFuture<Void> exited;

    LibkrunVm(VmRecord record, ProcessHandle process, GuestShutdown guestShutdown) {
        this.record = record;
        this.process = process;
        this.guestShutdown = guestShutdown;
        this.exited = process.onExit().thenApply(p -> null);
    }

    @Override
    public VmRecord record() {
        return record;
    }

    @Override
    public boolean isAlive() {
        return process.isAlive();
    }

    @Override
    public CompletableFuture<Void> exited() {
        return exited;
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
    public void stop(Duration grace) throws InterruptedException {
        if (!process.isAlive()) {
            return;
        }
        long deadline = System.nanoTime() + grace.toNanos();
        try {
            guestShutdown.request(record.agentSocket(), grace);
        } catch (VmException e) {
            // An agent that cannot be asked (crashed guest, wedged agent) leaves the signals below to end the VM.
        }
        if (awaitExit(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())))) {
            return;
        }
        liveProcess().ifPresent(ProcessHandle::destroy);
        if (awaitExit(TERM_GRACE)) {
            return;
        }
        kill();
        if (!awaitExit(KILL_TIMEOUT)) {
            throw new VmException("libkrun runner pid " + record.pid() + " did not end after SIGKILL");
        }
    }

    @Override
    public void kill() {
        liveProcess().ifPresent(ProcessHandle::destroyForcibly);
    }

    private java.util.Optional<ProcessHandle> liveProcess() {
        return new ProcessIdentity(record.pid(), record.processStartMillis()).live();
    }

    private boolean awaitExit(Duration within) throws InterruptedException {
        try {
            exited.get(within.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (TimeoutException e) {
            return false;
        } catch (ExecutionException e) {
            return !process.isAlive();
        }
    }

    /** The guest console; a libkrun without {@code krun_set_console_output} wrote it into the runner's log instead. */
    @Override
    public String consoleTail(int lines) {
        Path console = record.consoleLog();
        return ConsoleTail.read(Files.exists(console) ? console : new LibkrunRuntimeFiles(record.runtimeDir()).runnerLog(), lines);
    }

    @Override
    public String describe() {
        return "libkrun runner pid " + record.pid() + " (" + record.accelerator() + ")";
    }
}
