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

    /**
     * A local snapshot, for clones on this host: like {@link #saveState}, but the guest RAM is not streamed. The VM's
     * RAM file is frozen into a file of its own (in the backend's RAM directory, named after {@code workDir}), the
     * device state goes to {@code workDir/state} and the writable disk to {@code workDir/rw.ext4}, all of one
     * instant; then the guest runs on if it ran. The caller deletes the returned {@link SavedVmState#sharedRam()}
     * once every clone has mapped it (a clone keeps its own link). Nothing is left when this throws.
     *
     * @throws VmOperationUnsupportedException when the backend cannot map guest RAM from a file
     * @throws VmException when the VMM cannot save, or the VM died meanwhile
     */
    SavedVmState saveLocalState(Path workDir) throws InterruptedException;

    /** Asks the VMM to quit, then kills it if it has not ended within {@code grace}; returns once it is gone. */
    void stop(Duration grace) throws InterruptedException;

    /** Kills the VMM process at once. */
    void kill();

    /** The last lines the guest printed on its console, for failure reports. */
    String consoleTail(int lines);

    /** One line for logs and errors: backend, pid, accelerator. */
    String describe();
}
