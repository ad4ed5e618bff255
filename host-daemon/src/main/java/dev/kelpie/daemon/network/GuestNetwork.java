package dev.kelpie.daemon.network;

/**
 * The guest side of a sandbox's network, the same in every VM: each VM has its own user-mode network stack, so the
 * addresses never meet. There is no gateway and no DNS server: the only way out is the egress proxy's address, and
 * the proxy resolves names itself, so a guest cannot reach anything by address or by its own DNS.
 */
public final class GuestNetwork {

    /** The guest network that the VMM's user-mode stack emulates. */
    public static final String SUBNET_CIDR = "10.0.2.0/24";
    /** The guest's own address on eth0. */
    public static final String GUEST_ADDRESS = "10.0.2.15";
    public static final int PREFIX_BITS = 24;
    /** The VMM's own address in the guest network (the user-mode stack answers there, and refuses everything). */
    public static final String VMM_ADDRESS = "10.0.2.2";
    /** Where the guest finds the egress proxy; the VMM hands each connection to the daemon's proxy socket. */
    public static final String PROXY_ADDRESS = "10.0.2.100";
    public static final int PROXY_PORT = 3128;
    /**
     * Without a network device (libkrun) the agent serves the proxy address on the guest's loopback and relays each
     * connection to this host vsock port, which the VMM maps to the sandbox's egress socket.
     */
    public static final int EGRESS_VSOCK_PORT = 1025;
    /** Without a network device, the i-th published port is this vsock port + i, which the agent relays to its guest port. */
    public static final int FORWARD_VSOCK_PORT_BASE = 1026;

    private GuestNetwork() {}

    /** The proxy URL that the guest's tools read from {@code http_proxy} and friends. */
    public static String proxyUrl() {
        return "http://" + PROXY_ADDRESS + ":" + PROXY_PORT;
    }
}
