package dev.kelpie.daemon.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.List;
import org.junit.jupiter.api.Test;

class NetworkPolicyTest {

    @Test
    void theDefaultHasNoDevice() {
        assertFalse(NetworkPolicy.NONE.needsDevice());
        assertTrue(new NetworkPolicy(NetworkMode.NONE, List.of(), List.of(new PortForward(0, 80))).needsDevice());
        assertTrue(new NetworkPolicy(NetworkMode.EGRESS, List.of(), List.of()).needsDevice());
    }

    @Test
    void contradictionsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new NetworkPolicy(NetworkMode.NONE, List.of("pypi.org"),
                List.of()));
        assertThrows(IllegalArgumentException.class, () -> new NetworkPolicy(NetworkMode.NONE, List.of(),
                List.of(new PortForward(8080, 80), new PortForward(8080, 81))));
        assertThrows(IllegalArgumentException.class, () -> new NetworkPolicy(NetworkMode.NONE, List.of(),
                List.of(new PortForward(0, 80), new PortForward(0, 80))));
        assertThrows(IllegalArgumentException.class, () -> new PortForward(0, 0));
        assertThrows(IllegalArgumentException.class, () -> new PortForward(65536, 80));
    }

    @Test
    void reachabilitySaysWhatTheGuestCanReach() {
        assertEquals("no outbound network (loopback only); no ports published", NetworkPolicy.NONE.reachability());
        assertEquals("outbound TCP through the daemon's egress proxy to pypi.org, 10.0.0.0/8 only; published:"
                + " 127.0.0.1:8080 -> guest 80 (host loopback only)", new NetworkPolicy(NetworkMode.EGRESS,
                List.of("pypi.org", "10.0.0.0/8"), List.of(new PortForward(8080, 80))).reachability());
    }

    @Test
    void hostPortsArePickedOrCheckedFree() throws IOException {
        List<PortForward> picked = HostPorts.resolve(List.of(new PortForward(0, 80)));
        assertTrue(picked.get(0).hostPort() > 0);
        try (ServerSocket held = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            HostPortUnavailableException e = assertThrows(HostPortUnavailableException.class,
                    () -> HostPorts.resolve(List.of(new PortForward(held.getLocalPort(), 80))));
            assertTrue(e.getMessage().contains("127.0.0.1:" + held.getLocalPort()), e.getMessage());
        }
    }
}
