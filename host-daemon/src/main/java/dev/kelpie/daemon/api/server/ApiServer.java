package dev.kelpie.daemon.api.server;

import dev.kelpie.daemon.api.ApiAccess;
import dev.kelpie.daemon.config.KelpieConfig;
import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.netty.NettyServerBuilder;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.grpc.MetricCollectingServerInterceptor;
import io.micrometer.prometheus.PrometheusMeterRegistry;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.ssl.SslContext;
import java.io.IOException;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * The API's listeners: grpc-java's Netty server on the Unix socket (and on TCP when enabled), and the Prometheus
 * endpoint beside each. grpc-java's server turns a client's RST_STREAM into a cancellation of that one call and never
 * writes to a reset stream, so no client can break another call's connection (ADR 0023).
 */
public final class ApiServer {

    private static final Logger LOG = Logger.getLogger(ApiServer.class);
    /** WriteFile/Import chunks are up to 1 MiB; 16 MiB leaves room for any single message the API defines. */
    static final int MAX_INBOUND_MESSAGE_BYTES = 16 * 1024 * 1024;
    /** grpc-java and grpc-go clients refuse keepalive intervals under 10 s, so pings at that rate are never abuse. */
    private static final long MIN_CLIENT_PING_INTERVAL_SECONDS = 10;
    /**
     * A TCP peer may not have authenticated yet (that happens per call), so TCP listeners bound the HTTP/2 "rapid
     * reset" flood (CVE-2023-44487): beyond this many RST_STREAMs in the window the connection is closed. The Unix
     * socket's peers are trusted by its file mode and are never cut off for cancelling.
     */
    private static final int TCP_MAX_RESETS_PER_WINDOW = 1_000;
    private static final int TCP_RESET_WINDOW_SECONDS = 10;
    /**
     * A TCP connection without a call for this long is closed (GOAWAY; clients reconnect on their next call), so an idle
     * or half-open peer does not hold a connection for ever. Streams in progress are calls and are not affected.
     */
    private static final long TCP_MAX_CONNECTION_IDLE_MINUTES = 10;
    private static final int MAX_METRICS_REQUEST_BYTES = 16 * 1024;
    private static final long FORCED_STOP_TIMEOUT_MS = 5_000;

    private final NativeTransport transport;
    /** Calls run on virtual threads: services block (a VM boot takes seconds) without holding a scarce thread. */
    private final ExecutorService calls = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("kelpie-api-", 0)
            .factory());
    private final ApiServices services;
    private final List<Server> grpcServers = new ArrayList<>();
    private final List<Channel> metricsListeners = new ArrayList<>();

    private ApiServer(ApiServices services, EventLoopGroup sharedIo) {
        this.services = services;
        this.transport = NativeTransport.open(sharedIo);
    }

    /** Binds every endpoint and serves on I/O threads of its own; on failure nothing stays bound. */
    public static ApiServer start(ApiEndpoints endpoints, KelpieConfig.Tls tls, List<BindableService> daemonServices,
            ApiAccess access, MeterRegistry meters, PrometheusMeterRegistry prometheus) throws IOException {
        return start(endpoints, tls, daemonServices, access, meters, prometheus, null);
    }

    /**
     * Binds every endpoint and serves; on failure nothing stays bound.
     *
     * @param agentEventLoops the agent channels' event loops, which serve the API's connections too (see
     *     {@link NativeTransport#open(EventLoopGroup)}); null for threads of the API's own
     * @throws IOException naming the endpoint that could not be bound
     */
    public static ApiServer start(ApiEndpoints endpoints, KelpieConfig.Tls tls, List<BindableService> daemonServices,
            ApiAccess access, MeterRegistry meters, PrometheusMeterRegistry prometheus, EventLoopGroup agentEventLoops)
            throws IOException {
        List<ServerInterceptor> interceptors = List.of(access, new MetricCollectingServerInterceptor(meters));
        ApiServer server = new ApiServer(new ApiServices(daemonServices, interceptors), agentEventLoops);
        try {
            server.startGrpc(NettyServerBuilder.forAddress(new DomainSocketAddress(endpoints.socket().toString()))
                    .channelType(server.transport.domainSocketChannel), endpoints.socket().toString());
            MetricsHttpHandler metrics = new MetricsHttpHandler(prometheus, access, server.calls);
            server.startMetrics(server.transport.domainSocketChannel,
                    new DomainSocketAddress(endpoints.metricsSocket().toString()), Optional.empty(), metrics);
            if (endpoints.tcp().isPresent()) {
                NettyServerBuilder tcp = NettyServerBuilder.forAddress(endpoints.tcp().get())
                        .channelType(server.transport.tcpChannel)
                        .maxRstFramesPerWindow(TCP_MAX_RESETS_PER_WINDOW, TCP_RESET_WINDOW_SECONDS)
                        .maxConnectionIdle(TCP_MAX_CONNECTION_IDLE_MINUTES, TimeUnit.MINUTES);
                ApiTls.forGrpc(tls).ifPresent(tcp::sslContext);
                server.startGrpc(tcp, endpoints.tcp().get().toString());
                server.startMetrics(server.transport.tcpChannel, endpoints.metricsTcp().orElseThrow(),
                        ApiTls.forMetrics(tls), metrics);
            }
        } catch (IOException | RuntimeException e) {
            server.stop(Duration.ZERO);
            throw e;
        }
        server.services.serving();
        return server;
    }

    /** The addresses gRPC is served on (a TCP port configured as 0 shows the one picked). */
    public List<SocketAddress> grpcAddresses() {
        return grpcServers.stream().flatMap(s -> s.getListenSockets().stream()).map(SocketAddress.class::cast).toList();
    }

    /** The addresses metrics are served on. */
    public List<SocketAddress> metricsAddresses() {
        return metricsListeners.stream().map(Channel::localAddress).toList();
    }

    private void startGrpc(NettyServerBuilder builder, String where) throws IOException {
        builder.bossEventLoopGroup(transport.acceptors).workerEventLoopGroup(transport.io)
                .executor(calls)
                .maxInboundMessageSize(MAX_INBOUND_MESSAGE_BYTES)
                .permitKeepAliveTime(MIN_CLIENT_PING_INTERVAL_SECONDS, TimeUnit.SECONDS)
                .permitKeepAliveWithoutCalls(true);
        services.definitions().forEach(builder::addService);
        Server server = builder.build();
        try {
            server.start();
        } catch (IOException e) {
            throw new IOException("cannot serve the API on " + where + ": " + e.getMessage(), e);
        }
        grpcServers.add(server);
    }

    private void startMetrics(Class<? extends ServerChannel> channelType, SocketAddress address, Optional<SslContext> tls,
            MetricsHttpHandler handler) throws IOException {
        ServerBootstrap bootstrap = new ServerBootstrap().group(transport.acceptors, transport.io).channel(channelType)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel channel) {
                        tls.ifPresent(context -> channel.pipeline().addLast(context.newHandler(channel.alloc())));
                        channel.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(MAX_METRICS_REQUEST_BYTES),
                                handler);
                    }
                });
        var bound = bootstrap.bind(address).awaitUninterruptibly();
        if (!bound.isSuccess()) {
            throw new IOException("cannot serve metrics on " + address + ": " + bound.cause().getMessage(), bound.cause());
        }
        metricsListeners.add(bound.channel());
    }

    /**
     * Stops taking calls, gives the open ones {@code grace} to finish, then cancels what is left. Health turns
     * NOT_SERVING first, so Watch clients hear that the daemon is going away.
     */
    public void stop(Duration grace) {
        services.stopping();
        grpcServers.forEach(Server::shutdown);
        metricsListeners.forEach(Channel::close);
        long deadline = System.nanoTime() + grace.toNanos();
        for (Server server : grpcServers) {
            try {
                if (!server.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                    LOG.infof("%d s of grace are over: cancelling the calls still open", grace.toSeconds());
                    server.shutdownNow().awaitTermination(FORCED_STOP_TIMEOUT_MS, TimeUnit.MILLISECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                server.shutdownNow();
            }
        }
        calls.shutdownNow();
        transport.close();
    }
}
