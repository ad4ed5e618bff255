package dev.kelpie.daemon.hypervisor;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/** A running VM. Methods that talk to the VMM block for at most a few seconds and throw {@link VmException}. */
public interface VmHandle {

    VmRecord record();

    boolean isAlive();

    /** Completes once the VMM process is gone, however it ended. */
    CompletableFuture<Void> exited();

    /** Freezes the vCPUs; guest memory and processes keep their state. */
    void pause();

    void resume();

    /** Asks the VMM to quit, then kills it if it has not ended within {@code grace}; returns once it is gone. */
    void stop(Duration grace) throws InterruptedException;

    /** Kills the VMM process at once. */
    void kill();

    /** The last lines the guest printed on its console, for failure reports. */
    String consoleTail(int lines);

    /** One line for logs and errors: backend, pid, accelerator. */
    String describe();
}
