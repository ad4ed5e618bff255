package dev.kelpie.daemon.sandboxes;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kelpie.agent.v1.NetworkConfig;
import dev.kelpie.agent.v1.VsockRelay;
import dev.kelpie.daemon.network.NetworkMode;
import dev.kelpie.daemon.network.NetworkPolicy;
import dev.kelpie.daemon.network.PortForward;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class SandboxNetworksTest {

    private static final NetworkPolicy EGRESS = new NetworkPolicy(NetworkMode.EGRESS, List.of("pypi.org"), List.of());

    @Test
    void aVmWithANetworkDeviceGetsEth0AndNoRelays() {
        assertEquals(Optional.of(NetworkConfig.newBuilder().setAddressCidr("10.0.2.15/24").build()),
                SandboxNetworks.guestConfig(EGRESS, false));
        assertEquals(Optional.empty(), SandboxNetworks.guestConfig(NetworkPolicy.NONE, false));
    }

    /**
     * libkrun: no eth0; the proxy's guest address relayed to the vsock port the runner maps to egress.sock, and each
     * published port's vsock port (1026 + its index) relayed to the guest port.
     */
    @Test
    void overVsockTheAgentRelaysTheProxyAddressAndThePublishedPortsAndLeavesEth0Alone() {
        NetworkPolicy policy = new NetworkPolicy(NetworkMode.EGRESS, List.of("pypi.org"),
                List.of(new PortForward(0, 8000), new PortForward(9090, 22)));
        NetworkConfig config = SandboxNetworks.guestConfig(policy, true).orElseThrow();
        assertEquals("", config.getAddressCidr());
        assertEquals(List.of(
                VsockRelay.newBuilder().setDirection(VsockRelay.Direction.DIRECTION_TO_HOST)
                        .setGuestAddress("10.0.2.100:3128").setVsockPort(1025).build(),
                VsockRelay.newBuilder().setDirection(VsockRelay.Direction.DIRECTION_FROM_HOST)
                        .setGuestAddress("127.0.0.1:8000").setVsockPort(1026).build(),
                VsockRelay.newBuilder().setDirection(VsockRelay.Direction.DIRECTION_FROM_HOST)
                        .setGuestAddress("127.0.0.1:22").setVsockPort(1027).build()), config.getVsockRelaysList());
        assertEquals(Optional.empty(), SandboxNetworks.guestConfig(NetworkPolicy.NONE, true));
    }
}
