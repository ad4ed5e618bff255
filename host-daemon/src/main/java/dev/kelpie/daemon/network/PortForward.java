package dev.kelpie.daemon.network;

/**
 * A host loopback port that reaches a guest TCP port.
 *
 * @param hostPort the port on 127.0.0.1; 0 in a request means "the daemon picks one"
 */
public record PortForward(int hostPort, int guestPort) {

    public PortForward {
        if (hostPort < 0 || hostPort > 65535) {
            throw new IllegalArgumentException("host port " + hostPort + " is outside 1..65535 (0 lets the daemon pick)");
        }
        if (guestPort < 1 || guestPort > 65535) {
            throw new IllegalArgumentException("guest port " + guestPort + " is outside 1..65535");
        }
    }

    @Override
    public String toString() {
        return "127.0.0.1:" + (hostPort == 0 ? "(any)" : hostPort) + " -> guest " + guestPort;
    }
}
