package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.hypervisor.VmHandle;
import dev.kelpie.daemon.images.BootImage;
import java.util.Optional;

/**
 * How a SUSPENDED sandbox's VM leaves the host's memory and comes back (ADR 0029): the one seam between the idle
 * action and the mechanism, so that a cheaper local snapshot (a RAM file that is mapped instead of read) can replace
 * {@link SavedStateSuspension} without the lifecycle changing.
 */
interface VmSuspension {

    /** A suspended VM's state on this host; what it holds is the mechanism's business. */
    interface LocalState {}

    /**
     * Writes the state of {@code vm}, whose vCPUs stay stopped, to local files, and only then returns: the caller
     * ends the VM process afterwards. Nothing is left behind when this throws, and the VM runs on as before.
     */
    LocalState suspend(String id, VmHandle vm) throws InterruptedException;

    /** The complete state a suspend left for {@code id}, as a new daemon finds it; empty when there is none. */
    Optional<LocalState> find(String id);

    /**
     * Starts a VM from {@code state} and proves its agent: the guest continues where it was suspended. The state stays
     * until {@link #discard}, so a resume that breaks off (a crash, a Delete) can be tried again. On failure no process
     * of the attempt remains.
     */
    PooledVm resume(String id, SandboxRecord record, BootImage image, LocalState state) throws InterruptedException;

    /** Removes the state (the sandbox runs again, or goes); nothing happens when there is none. */
    void discard(String id);
}
