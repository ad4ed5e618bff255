package dev.kelpie.daemon.network;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;

/**
 * Host loopback ports for port forwards: requested ones are checked free, 0 becomes a free port the kernel picks. The
 * VMM binds them a moment later, so another process can still take one in between; the VMM's own error covers that.
 */
public final class HostPorts {

    private HostPorts() {}

    /**
     * @throws HostPortUnavailableException naming the first requested port something else holds
     */
    public static List<PortForward> resolve(List<PortForward> requested) {
        List<PortForward> resolved = new ArrayList<>();
        for (PortForward f : requested) {
            resolved.add(new PortForward(f.hostPort() == 0 ? freePort() : checkFree(f.hostPort()), f.guestPort()));
        }
        return List.copyOf(resolved);
    }

    private static int checkFree(int port) {
        try (ServerSocket socket = bind(port)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new HostPortUnavailableException("host port 127.0.0.1:" + port + " cannot be published: "
                    + e.getMessage() + " (another process or sandbox holds it; ask for 0 to let the daemon pick)");
        }
    }

    private static int freePort() {
        try (ServerSocket socket = bind(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new HostPortUnavailableException("no free host port on 127.0.0.1: " + e.getMessage());
        }
    }

    private static ServerSocket bind(int port) throws IOException {
        ServerSocket socket = new ServerSocket();
        try {
            // Without SO_REUSEADDR: a port in TIME_WAIT would bind here and then fail for the VMM.
            socket.setReuseAddress(false);
            socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1);
            return socket;
        } catch (IOException e) {
            socket.close();
            throw e;
        }
    }
}
