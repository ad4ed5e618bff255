package dev.kelpie.daemon.hypervisor;

import dev.kelpie.daemon.network.PortForward;
import java.nio.file.Path;
import java.util.List;

/**
 * The network device of one VM, as the VMM must set it up (see {@link dev.kelpie.daemon.network.GuestNetwork} for the
 * guest's addresses).
 *
 * @param egressSocket where the VMM hands the guest's connections to the proxy address; null when the guest has no
 *     outbound path
 * @param forwards host loopback ports (all resolved, none 0) the VMM listens on for guest ports
 */
public record VmNetwork(Path egressSocket, List<PortForward> forwards) {

    /** No network device at all: the guest has loopback only. */
    public static final VmNetwork NONE = new VmNetwork(null, List.of());

    public VmNetwork {
        forwards = forwards == null ? List.of() : List.copyOf(forwards);
        if (forwards.stream().anyMatch(f -> f.hostPort() == 0)) {
            throw new IllegalArgumentException("a VM's port forwards need their host ports picked: " + forwards);
        }
    }

    public boolean hasDevice() {
        return egressSocket != null || !forwards.isEmpty();
    }
}
