package dev.kelpie.cli.mcp;

import io.modelcontextprotocol.server.transport.DefaultServerTransportSecurityValidator;
import io.modelcontextprotocol.server.transport.ServerTransportSecurityException;
import io.modelcontextprotocol.server.transport.ServerTransportSecurityValidator;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * DNS-rebinding protection for the loopback HTTP server, as the MCP spec asks: the {@code Host} header must name this
 * server by a loopback name and its port, and a request with an {@code Origin} (a browser's) must come from this server
 * or from an origin the operator allowed. Programs that send no Origin (MCP clients outside a browser) pass. A page on
 * another site that rebinds its name to 127.0.0.1 fails both checks. Built once the port is known (it may be picked
 * at bind time); until then every request is refused.
 */
final class LoopbackGuard implements ServerTransportSecurityValidator {

    private final String bindHost;
    private final List<String> extraOrigins;
    private volatile DefaultServerTransportSecurityValidator checks;

    LoopbackGuard(String bindHost, List<String> extraOrigins) {
        this.bindHost = bindHost;
        this.extraOrigins = List.copyOf(extraOrigins);
    }

    /** Whether {@code host} (a name or an address) resolves to loopback only; the server binds nothing else. */
    static boolean isLoopback(String host) {
        try {
            InetAddress[] all = InetAddress.getAllByName(host);
            for (InetAddress a : all) {
                if (!a.isLoopbackAddress()) {
                    return false;
                }
            }
            return all.length > 0;
        } catch (java.net.UnknownHostException e) {
            return false;
        }
    }

    /** The Host values a client of this server sends: loopback names with the port. */
    List<String> hosts(int port) {
        List<String> hosts = new ArrayList<>(List.of("localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port));
        String own = bindHost.contains(":") && !bindHost.startsWith("[") ? "[" + bindHost + "]:" + port
                : bindHost + ":" + port;
        if (!hosts.contains(own)) {
            hosts.add(own);
        }
        return hosts;
    }

    void listeningOn(int port) {
        List<String> hosts = hosts(port);
        List<String> origins = new ArrayList<>();
        for (String h : hosts) {
            origins.add("http://" + h);
        }
        origins.addAll(extraOrigins);
        checks = DefaultServerTransportSecurityValidator.builder().allowedHosts(hosts).allowedOrigins(origins).build();
    }

    @Override
    public void validateHeaders(Map<String, List<String>> headers) throws ServerTransportSecurityException {
        DefaultServerTransportSecurityValidator c = checks;
        if (c == null) {
            throw new ServerTransportSecurityException(503, "not listening yet");
        }
        c.validateHeaders(headers);
    }
}
