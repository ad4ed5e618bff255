package dev.kelpie.daemon.hypervisor;

import java.nio.file.Path;
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

    /**
     * Writes the VM's full state to {@code memoryFile} and a copy of its writable disk to {@code diskFile}, both
     * taken while the vCPUs are stopped, then lets the guest run on. The agent connection stays open; the guest sees
     * only a pause. Neither file exists when this throws.
     *
     * @throws VmException when the VMM cannot save, or the VM died meanwhile
     */
    SavedVmState saveState(Path memoryFile, Path diskFile) throws InterruptedException;

    /** Asks the VMM to quit, then kills it if it has not ended within {@code grace}; returns once it is gone. */
    void stop(Duration grace) throws InterruptedException;

    /** Kills the VMM process at once. */
    void kill();

    /** The last lines the guest printed on its console, for failure reports. */
    String consoleTail(int lines);

    /** One line for logs and errors: backend, pid, accelerator. */
    String describe();
}
