package dev.kelpie.daemon.network;

import java.util.Set;

/**
 * The TCP ports the daemon itself listens on (the API, its metrics). No egress policy reaches them on any of this
 * host's addresses: a guest must never get the API that controls it, whatever its allowlist or a package says.
 */
@FunctionalInterface
public interface DaemonPorts {

    DaemonPorts NONE = Set::of;

    /** The ports now; a listener on port 0 counts once it is bound. */
    Set<Integer> tcpPorts();
}
