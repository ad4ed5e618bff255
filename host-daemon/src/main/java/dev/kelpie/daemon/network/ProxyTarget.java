package dev.kelpie.daemon.network;

import java.net.URI;
import java.net.URISyntaxException;

/**
 * Where a proxy request wants to go: {@code CONNECT host:port} or {@code GET http://host[:port]/path}.
 *
 * @param pathAndQuery the origin-form target for a plain HTTP request; empty for a tunnel
 */
record ProxyTarget(String host, int port, String pathAndQuery) {

    private static final int HTTP_PORT = 80;

    /** @throws IllegalArgumentException when the authority is not {@code host:port} */
    static ProxyTarget ofAuthority(String authority) {
        int colon = authority.lastIndexOf(':');
        if (colon <= 0 || colon == authority.length() - 1 || authority.endsWith("]")) {
            throw new IllegalArgumentException("CONNECT needs host:port, got '" + abbreviate(authority) + "'");
        }
        String host = authority.substring(0, colon);
        host = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
        return new ProxyTarget(host, port(authority.substring(colon + 1), authority), "");
    }

    /** @throws IllegalArgumentException when the target is not an absolute http:// URI */
    static ProxyTarget ofAbsoluteUri(String target) {
        try {
            URI uri = new URI(target);
            if (!"http".equalsIgnoreCase(uri.getScheme()) || uri.getHost() == null) {
                throw new IllegalArgumentException("expected an absolute http:// URI or CONNECT, got '"
                        + abbreviate(target) + "' (this is the sandbox's egress proxy)");
            }
            String host = uri.getHost();
            host = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
            String path = uri.getRawPath() == null || uri.getRawPath().isEmpty() ? "/" : uri.getRawPath();
            String query = uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery();
            return new ProxyTarget(host, uri.getPort() == -1 ? HTTP_PORT : uri.getPort(), path + query);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("malformed request target '" + abbreviate(target) + "': "
                    + e.getReason());
        }
    }

    private static int port(String digits, String authority) {
        return TcpPorts.parse(digits).orElseThrow(() -> new IllegalArgumentException("port in '"
                + abbreviate(authority) + "' must be 1.." + TcpPorts.MAX));
    }

    private static String abbreviate(String s) {
        return s.length() <= 80 ? s : s.substring(0, 80) + "…";
    }

    @Override
    public String toString() {
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }
}
