package dev.kelpie.daemon.api.server;

import dev.kelpie.daemon.config.KelpieConfig;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Where the API listens: gRPC on the Unix socket and, if enabled, on TCP; Prometheus metrics (HTTP/1.1, which a
 * gRPC listener cannot also speak) on a socket of their own beside it and, with TCP, on the next port.
 */
public record ApiEndpoints(Path socket, Path metricsSocket, Optional<InetSocketAddress> tcp,
        Optional<InetSocketAddress> metricsTcp) {

    private static final String SOCKET_SUFFIX = ".sock";
    private static final String METRICS_SOCKET_SUFFIX = "-metrics.sock";

    public static ApiEndpoints of(KelpieConfig.Api api) {
        Path socket = api.socket().toAbsolutePath();
        Path metricsSocket = api.metricsSocket().map(Path::toAbsolutePath).orElseGet(() -> besideSocket(socket));
        if (!api.tcp().enabled()) {
            return new ApiEndpoints(socket, metricsSocket, Optional.empty(), Optional.empty());
        }
        return new ApiEndpoints(socket, metricsSocket, Optional.of(new InetSocketAddress(api.tcp().host(), api.tcp().port())),
                Optional.of(new InetSocketAddress(api.tcp().host(), api.tcp().metricsPort())));
    }

    /** {@code /run/kelpie/kelpied.sock} gets {@code /run/kelpie/kelpied-metrics.sock}. */
    static Path besideSocket(Path socket) {
        String name = socket.getFileName().toString();
        String stem = name.endsWith(SOCKET_SUFFIX) ? name.substring(0, name.length() - SOCKET_SUFFIX.length()) : name;
        return socket.resolveSibling(stem + METRICS_SOCKET_SUFFIX);
    }
}
