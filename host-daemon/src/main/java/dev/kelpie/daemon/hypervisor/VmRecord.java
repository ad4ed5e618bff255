package dev.kelpie.daemon.hypervisor;

import dev.kelpie.daemon.network.PortForward;
import java.nio.file.Path;
import java.util.List;

/**
 * What a daemon must remember to find a running VM again: its VMM process (pid and start time, so that a recycled
 * pid is never mistaken for the VM) and its sockets. Stored as {@code vm.json} in the VM's runtime directory.
 *
 * @param portForwards the host loopback ports the VMM listens on for guest ports (empty for records of older daemons)
 * @param processBootStart the VMM's boot-relative start ({@link ProcessIdentity#bootStart()}); empty where the
 *     platform has none and in records of older daemons
 */
public record VmRecord(String hypervisor, String vmId, long pid, long processStartMillis, String accelerator, Path runtimeDir,
        Path agentSocket, Path controlSocket, Path consoleLog, List<PortForward> portForwards, String processBootStart) {

    public VmRecord {
        portForwards = portForwards == null ? List.of() : List.copyOf(portForwards);
        processBootStart = processBootStart == null ? "" : processBootStart;
    }

    /** The VMM process this record names. */
    public ProcessIdentity process() {
        return new ProcessIdentity(pid, processStartMillis, processBootStart);
    }
}
