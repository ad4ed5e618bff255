package dev.kelpie.daemon.sandboxes;

import dev.kelpie.agent.v1.NetworkConfig;
import dev.kelpie.agent.v1.VsockRelay;
import dev.kelpie.daemon.hypervisor.VmNetwork;
import dev.kelpie.daemon.network.EgressGateway;
import dev.kelpie.daemon.network.EgressTraffic;
import dev.kelpie.daemon.network.GuestNetwork;
import dev.kelpie.daemon.network.HostPorts;
import dev.kelpie.daemon.network.NetworkMode;
import dev.kelpie.daemon.network.NetworkPolicy;
import dev.kelpie.daemon.network.PortForward;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.jboss.logging.Logger;

/**
 * The network side of each sandbox's VM: picks its host ports, runs its egress proxy for as long as the VM lives (and
 * again after a daemon restart), and says what the agent must set up in the guest.
 */
final class SandboxNetworks implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(SandboxNetworks.class);
    /** The egress proxy's socket in a VM's runtime directory, which the VMM hands the guest's connections to. */
    static final String EGRESS_SOCKET = "egress.sock";
    /** Where the daemon serves no egress proxy (tests, simulations), no sandbox gets egress. */
    static final EgressGateway NO_EGRESS = (id, socket, allowlist, traffic) -> {
        throw new IOException("this daemon serves no egress proxy");
    };
    private static final String NO_PROXY = "localhost,127.0.0.1,::1";

    private final EgressGateway egress;
    private final Function<String, Path> runtimeDirs;
    /** The egress proxies serving sandboxes now, by sandbox id. */
    private final Map<String, AutoCloseable> listeners = new ConcurrentHashMap<>();
    /** What each of those proxies counted since this daemon opened it. */
    private final Map<String, EgressTraffic> traffic = new ConcurrentHashMap<>();

    SandboxNetworks(EgressGateway egress, Function<String, Path> runtimeDirs) {
        this.egress = egress;
        this.runtimeDirs = runtimeDirs;
    }

    /**
     * Picks the host ports and, for egress, starts the sandbox's proxy on the socket the VMM will hand connections to.
     *
     * @throws SandboxUnavailableException when the proxy cannot be served
     * @throws dev.kelpie.daemon.network.HostPortUnavailableException when a requested host port is taken
     */
    VmNetwork attach(String id, NetworkPolicy network) {
        if (!network.needsDevice()) {
            return VmNetwork.NONE;
        }
        List<PortForward> forwards = HostPorts.resolve(network.forwards());
        Path socket = null;
        if (network.mode() == NetworkMode.EGRESS) {
            socket = egressSocket(id);
            open(id, socket, network);
        }
        return new VmNetwork(socket, forwards);
    }

    /** The proxy of a re-adopted VM: its VMM still hands connections to the same socket, whose server died. */
    void reopenEgress(String id, NetworkPolicy network) {
        if (network.mode() != NetworkMode.EGRESS) {
            return;
        }
        try {
            open(id, egressSocket(id), network);
        } catch (SandboxUnavailableException e) {
            LOG.errorf("sandbox %s: %s; its guest has no outbound path until it is recreated", id, e.getMessage());
        }
    }

    /** Stops the sandbox's proxy, if it has one. */
    void detach(String id) {
        closeQuietly(id, listeners.remove(id));
        traffic.remove(id);
    }

    /** The counters of the sandbox's proxy; empty while it has none. */
    Optional<EgressTraffic> traffic(String id) {
        return Optional.ofNullable(traffic.get(id));
    }

    @Override
    public void close() {
        listeners.keySet().forEach(this::detach);
    }

    /**
     * What the agent sets up: eth0 on a VMM with a network device; on one that carries the network over vsock, no
     * address but the relay from the proxy's usual guest address, so that the guest's env is the same on every
     * backend. Empty for a VM without network.
     */
    static Optional<NetworkConfig> guestConfig(NetworkPolicy network, boolean overVsock) {
        if (!network.needsDevice()) {
            return Optional.empty();
        }
        if (!overVsock) {
            return Optional.of(NetworkConfig.newBuilder()
                    .setAddressCidr(GuestNetwork.GUEST_ADDRESS + "/" + GuestNetwork.PREFIX_BITS).build());
        }
        NetworkConfig.Builder config = NetworkConfig.newBuilder();
        if (network.mode() == NetworkMode.EGRESS) {
            config.addVsockRelays(VsockRelay.newBuilder().setDirection(VsockRelay.Direction.DIRECTION_TO_HOST)
                    .setGuestAddress(GuestNetwork.PROXY_ADDRESS + ":" + GuestNetwork.PROXY_PORT)
                    .setVsockPort(GuestNetwork.EGRESS_VSOCK_PORT));
        }
        for (int i = 0; i < network.forwards().size(); i++) {
            config.addVsockRelays(VsockRelay.newBuilder().setDirection(VsockRelay.Direction.DIRECTION_FROM_HOST)
                    .setGuestAddress("127.0.0.1:" + network.forwards().get(i).guestPort())
                    .setVsockPort(GuestNetwork.FORWARD_VSOCK_PORT_BASE + i));
        }
        return Optional.of(config.build());
    }

    /**
     * The sandbox's env after the proxy settings of egress: tools (pip, git, curl, wget) find the only way out there.
     * The sandbox's own values win.
     */
    static Map<String, String> guestEnv(SandboxConfig config) {
        if (config.network().mode() != NetworkMode.EGRESS) {
            return config.env();
        }
        Map<String, String> env = new LinkedHashMap<>();
        for (String name : List.of("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")) {
            env.put(name, GuestNetwork.proxyUrl());
        }
        env.put("no_proxy", NO_PROXY);
        env.put("NO_PROXY", NO_PROXY);
        env.putAll(config.env());
        return env;
    }

    private Path egressSocket(String id) {
        return runtimeDirs.apply(id).resolve(EGRESS_SOCKET);
    }

    private void open(String id, Path socket, NetworkPolicy network) {
        try {
            Files.createDirectories(socket.getParent());
            // The old listener goes first: closing it removes the socket file the new one is about to serve.
            closeQuietly(id, listeners.remove(id));
            EgressTraffic counted = new EgressTraffic();
            listeners.put(id, egress.open(id, socket, network.allowlist(), counted));
            traffic.put(id, counted);
        } catch (IOException e) {
            throw new SandboxUnavailableException("sandbox " + id + ": its egress proxy could not start: "
                    + e.getMessage(), e);
        }
    }

    private static void closeQuietly(String id, AutoCloseable listener) {
        if (listener == null) {
            return;
        }
        try {
            listener.close();
        } catch (Exception e) {
            LOG.warnf("sandbox %s: closing its egress proxy failed: %s", id, e.getMessage());
        }
    }
}
