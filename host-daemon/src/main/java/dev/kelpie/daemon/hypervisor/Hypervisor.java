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
}
