package dev.kelpie.daemon.hypervisor;

import java.nio.file.Path;
import java.util.Optional;

/**
 * A way to run VMs: the seam between the sandbox manager and a VMM. One VM per call of {@link #boot}, each in its own
 * VMM process that outlives the daemon; {@link #adopt} finds such a VM again after a daemon restart.
 */
public interface Hypervisor {

    /** Backend name as reported by the API, e.g. {@code qemu}. */
    String name();

    /**
     * Starts a VM and returns once its VMM process runs (the guest may still be booting; the caller waits for the
     * agent). The caller persists {@link VmHandle#record()}.
     *
     * @throws VmException when the VMM cannot be started, with what it printed
     */
    VmHandle boot(VmSpec spec) throws InterruptedException;

    /**
     * Starts a VM from a saved state instead of booting it: the guest resumes where it was saved, with its processes,
     * page cache and agent. {@code spec} must describe the same image and shape as the saved VM; the state's disk
     * file is moved into the new VM's runtime directory (so it must be on the same filesystem or is copied), its
     * memory file is only read. Returns once the guest runs again.
     *
     * @throws VmException when the VMM cannot load the state, with what it printed
     */
    VmHandle restore(VmSpec spec, SavedVmState state) throws InterruptedException;

    /**
     * Why this backend cannot give a VM the network device of {@link VmNetwork} (with an egress path if
     * {@code egress}), or empty when it can. Asked before
     * anything boots, so that a policy the backend cannot enforce is refused instead of half applied.
     */
    default Optional<String> networkUnsupportedReason(boolean egress) {
        return Optional.of("the " + name() + " backend has no guest networking");
    }

    /**
     * Why this backend cannot pause a VM and save its state (which a sandbox's idle action pause or snapshot needs), or
     * empty when it can. Asked at create, so that a sandbox is never given an idle action it cannot take.
     */
    default Optional<String> pauseUnsupportedReason() {
        return Optional.empty();
    }

    /**
     * Why this backend cannot run a guest of {@code arch} here (a {@link GuestArchs#SUPPORTED} name), or empty when
     * it can. Asked before anything boots. A backend that runs only the host's architecture says so for the other.
     */
    Optional<String> archUnavailableReason(String arch);

    /** The platform a VM of {@code arch} runs on here, which a saved state must match to be restored. */
    VmPlatform platform(String arch);

    /**
     * Takes over a VM started by an earlier daemon. Empty when its process is gone or the pid now belongs to another
     * process (pid and start time must both match the record).
     */
    Optional<VmHandle> adopt(VmRecord record);

    /**
     * Kills any VMM process this backend left in {@code runtimeDir} without a record, e.g. when the daemon died
     * between starting a VM and persisting its record. Only a process that names {@code runtimeDir} on its command
     * line is touched.
     */
    void killLeftovers(Path runtimeDir);

    /**
     * Removes every guest RAM file of this backend that belongs to none of {@code vmIds} (the runtime directories
     * that survive recovery): what a daemon killed between freezing a snapshot and its clones' launch left behind.
     */
    default void removeOrphanMemory(java.util.Set<String> vmIds) {}

    /**
     * Removes the RAM file of VM {@code vmId}, whose memory is saved elsewhere and whose process ends next (a
     * suspend): the pages go once the process does, while its runtime directory stays.
     */
    default void releaseMemory(String vmId) {}

    /**
     * The frozen form of a full state whose memory is {@code memoryKey} (see {@link SavedVmState#memoryKey()}), when
     * a restore on this host made one since the daemon started: device state plus a RAM file to map, with
     * {@code disk} as its writable disk. Empty when there is none or the backend cannot map RAM.
     */
    default Optional<SavedVmState> frozenMemory(String memoryKey, Path disk, VmPlatform platform) {
        return Optional.empty();
    }

    /** Drops the frozen form of {@code memoryKey} (its package is gone); VMs that map it keep their pages. */
    default void forgetMemory(String memoryKey) {}
}
