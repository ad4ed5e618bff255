package dev.kelpie.daemon.hypervisor;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The VMM process of one VM, however it was started: watched through its handle, and signalled only while its pid
 * and start time still name it (see {@link ProcessIdentity}).
 */
public final class VmProcess {

    /** SIGKILL ends a VMM within milliseconds; waiting longer only delays an error report. */
    public static final Duration KILL_TIMEOUT = Duration.ofSeconds(10);

    private final VmRecord record;
    private final ProcessHandle process;
    private final CompletableFuture<Void> exited;

    public VmProcess(VmRecord record, ProcessHandle process) {
        this.record = record;
        this.process = process;
        // A VMM is often not the daemon's child (qemu daemonizes, an adopted VM was started by an earlier daemon): the
        // JDK then watches it by pid, which is safe since the handle is held.
        this.exited = process.onExit().thenApply(p -> null);
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public CompletableFuture<Void> exited() {
        return exited;
    }

    /** SIGTERM. */
    public void terminate() {
        live().ifPresent(ProcessHandle::destroy);
    }

    /** SIGKILL. */
    public void kill() {
        live().ifPresent(ProcessHandle::destroyForcibly);
    }

    /** Whether the process ended within {@code within}. */
    public boolean awaitExit(Duration within) throws InterruptedException {
        try {
            exited.get(within.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (TimeoutException e) {
            return false;
        } catch (ExecutionException e) {
            return !process.isAlive();
        }
    }

    /**
     * Kills the process and returns once it is gone.
     *
     * @throws VmException when it survives SIGKILL, naming it as {@code what}
     */
    public void killAndAwait(String what) throws InterruptedException {
        kill();
        if (!awaitExit(KILL_TIMEOUT)) {
            throw new VmException(what + " pid " + record.pid() + " did not end after SIGKILL");
        }
    }

    private Optional<ProcessHandle> live() {
        return record.process().live();
    }
}
