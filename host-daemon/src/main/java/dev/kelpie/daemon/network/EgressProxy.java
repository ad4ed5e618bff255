package dev.kelpie.daemon.network;

import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.SocketAddress;
import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.jboss.logging.Logger;

/**
 * The daemon's egress proxy, built on Vert.x's HTTP server and clients: per sandbox, an HTTP proxy on a Unix socket
 * in its runtime directory, which the VM's user-mode network hands each guest connection to the proxy address. It
 * tunnels {@code CONNECT host:port} (HTTPS, git, pip) and forwards absolute-URI {@code http://} requests, each only
 * to a destination the sandbox's {@link EgressAllowlist} allows, always to the very address it checked. Anything else
 * gets an HTTP error that says why, which the guest's tool prints.
 */
public final class EgressProxy implements EgressGateway {

    private static final Logger LOG = Logger.getLogger(EgressProxy.class);
    private static final int CONNECT_TIMEOUT_MS = 10_000;
    private static final long LISTEN_TIMEOUT_MS = 10_000;
    /** A connection (guest side or upstream) with no byte either way for this long is closed. */
    private static final int IDLE_TIMEOUT_S = 600;
    /** Open guest connections per sandbox; more are closed at once (each also costs the host a relay process). */
    static final int MAX_CONNECTIONS_PER_SANDBOX = 256;
    /** Threads for name lookups, apart from the daemon's workers: slow DNS answers stall egress, not the daemon. */
    private static final int LOOKUP_THREADS = 4;
    private static final long LOOKUP_TIMEOUT_S = 30;
    /**
     * Headers about one hop, never passed on (RFC 9110 7.6.1, plus the proxy's own), and Host, which is set from the
     * checked target so that the upstream never sees a different name than the one the allowlist allowed.
     */
    private static final Set<String> HOP_BY_HOP = Set.of("connection", "keep-alive", "proxy-connection",
            "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "host");

    private final Vertx vertx;
    private final NetClient tunnels;
    private final HttpClient forwards;
    private final WorkerExecutor lookups;
    private final DaemonPorts daemonPorts;

    public EgressProxy(Vertx vertx) {
        this(vertx, DaemonPorts.NONE);
    }

    /** @param daemonPorts the daemon's own listeners, refused to every guest on every host address */
    public EgressProxy(Vertx vertx, DaemonPorts daemonPorts) {
        this.vertx = vertx;
        this.daemonPorts = daemonPorts;
        this.tunnels = vertx.createNetClient(new NetClientOptions().setConnectTimeout(CONNECT_TIMEOUT_MS)
                .setIdleTimeout(IDLE_TIMEOUT_S));
        this.forwards = vertx.createHttpClient(new HttpClientOptions().setConnectTimeout(CONNECT_TIMEOUT_MS)
                .setIdleTimeout(IDLE_TIMEOUT_S).setKeepAlive(false));
        this.lookups = vertx.createSharedWorkerExecutor("kelpie-egress-lookup", LOOKUP_THREADS, LOOKUP_TIMEOUT_S,
                TimeUnit.SECONDS);
    }

    @Override
    public AutoCloseable open(String sandboxId, Path socket, EgressAllowlist allowlist, EgressTraffic traffic)
            throws IOException {
        Files.deleteIfExists(socket);
        // HTTP/1.1 only: a proxy request is a request line; h2c would bring streams without one.
        HttpServer server = vertx.createHttpServer(new HttpServerOptions().setHttp2ClearTextEnabled(false)
                        .setIdleTimeout(IDLE_TIMEOUT_S))
                .connectionHandler(connection -> {
                    if (traffic.connectionOpened() > MAX_CONNECTIONS_PER_SANDBOX) {
                        LOG.warnf("sandbox %s: more than %d egress connections at once; closing the newest",
                                sandboxId, MAX_CONNECTIONS_PER_SANDBOX);
                        connection.close();
                    }
                    connection.closeHandler(closed -> traffic.connectionClosed());
                })
                .requestHandler(request -> handle(sandboxId, allowlist, traffic, request));
        try {
            server.listen(SocketAddress.domainSocketAddress(socket.toString())).toCompletionStage().toCompletableFuture()
                    .get(LISTEN_TIMEOUT_MS, TimeUnit.MILLISECONDS);
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
        } catch (ExecutionException | TimeoutException e) {
            server.close();
            throw new IOException("serving the egress proxy of sandbox " + sandboxId + " on " + socket + " failed: "
                    + (e.getCause() == null ? e : e.getCause()).getMessage(), e);
        } catch (InterruptedException e) {
            server.close();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while starting the egress proxy of sandbox " + sandboxId, e);
        }
        return () -> {
            server.close();
            Files.deleteIfExists(socket);
        };
    }

    private void handle(String sandboxId, EgressAllowlist allowlist, EgressTraffic traffic, HttpServerRequest request) {
        // Held until the destination is checked: a body (or its end) arriving meanwhile must wait for the upstream.
        request.pause();
        ProxyTarget target;
        try {
            target = request.method() == HttpMethod.CONNECT ? ProxyTarget.ofAuthority(request.uri())
                    : ProxyTarget.ofAbsoluteUri(request.uri());
        } catch (RuntimeException e) {
            refuse(request, 400, "kelpie: " + e.getMessage());
            return;
        }
        lookups.<EgressAllowlist.Verdict>executeBlocking(() -> check(allowlist, target, daemonPorts), false)
                .onComplete(checked -> {
            if (checked.failed()) {
                refuse(request, 502, "checking " + target + " failed: " + checked.cause().getMessage());
                return;
            }
            EgressAllowlist.Verdict verdict = checked.result();
            if (!verdict.allowed()) {
                LOG.infof("sandbox %s: egress to %s refused: %s", sandboxId, target, verdict.reason());
                refuse(request, 403, "kelpie: " + verdict.reason());
                return;
            }
            InetAddress address = verdict.address().orElseThrow();
            LOG.debugf("sandbox %s: egress to %s (%s)", sandboxId, target, address.getHostAddress());
            if (request.method() == HttpMethod.CONNECT) {
                tunnel(request, target, address, traffic);
            } else {
                forward(request, target, address, traffic);
            }
        });
    }

    /** Resolves and checks on a worker thread: name lookups block. */
    private static EgressAllowlist.Verdict check(EgressAllowlist allowlist, ProxyTarget target, DaemonPorts daemonPorts) {
        InetAddress literal = EgressAllowlist.ipLiteral(target.host());
        List<InetAddress> addresses;
        if (literal != null) {
            addresses = List.of(literal);
        } else {
            try {
                addresses = List.of(InetAddress.getAllByName(target.host()));
            } catch (UnknownHostException e) {
                addresses = List.of();
            }
        }
        Set<InetAddress> own = HostAddresses.current();
        EgressAllowlist.Verdict verdict = allowlist.check(target.host(), target.port(), addresses, own::contains);
        InetAddress chosen = verdict.address().orElse(null);
        if (chosen != null && daemonPorts.tcpPorts().contains(target.port())
                && (chosen.isLoopbackAddress() || chosen.isAnyLocalAddress() || own.contains(chosen))) {
            return new EgressAllowlist.Verdict(Optional.empty(), target + " is the daemon's own listener (its API or"
                    + " metrics) on this host; no network policy reaches it");
        }
        return verdict;
    }

    private void tunnel(HttpServerRequest request, ProxyTarget target, InetAddress address, EgressTraffic traffic) {
        tunnels.connect(SocketAddress.inetSocketAddress(target.port(), address.getHostAddress()))
                .onFailure(e -> refuse(request, 502, "kelpie: connecting to " + target + " failed: " + e.getMessage()))
                .onSuccess(upstream -> request.toNetSocket().onComplete(down -> {
                    if (down.failed()) {
                        upstream.close();
                        return;
                    }
                    splice(down.result(), upstream, traffic);
                }));
    }

    /** Tunnel payload counts as egress bytes; the CONNECT line and the proxy's answer do not. */
    private static void splice(NetSocket guest, NetSocket upstream, EgressTraffic traffic) {
        new CountingReadStream(guest, traffic::sent).pipeTo(upstream);
        new CountingReadStream(upstream, traffic::received).pipeTo(guest);
    }

    /** Request and response bodies count as egress bytes; headers do not. */
    private void forward(HttpServerRequest request, ProxyTarget target, InetAddress address, EgressTraffic traffic) {
        RequestOptions options = new RequestOptions().setMethod(request.method())
                .setServer(SocketAddress.inetSocketAddress(target.port(), address.getHostAddress()))
                .setHost(target.host()).setPort(target.port()).setURI(target.pathAndQuery())
                .setHeaders(endToEnd(request.headers()));
        Future<Void> done = forwards.request(options).compose(upstream -> upstream
                .send(new CountingReadStream(request, traffic::sent)).compose(response -> {
            request.response().setStatusCode(response.statusCode()).setStatusMessage(response.statusMessage());
            request.response().headers().addAll(endToEnd(response.headers()));
            return request.response().send(new CountingReadStream(response, traffic::received));
        }));
        done.onFailure(e -> refuse(request, 502, "kelpie: forwarding to " + target + " failed: " + e.getMessage()));
    }

    /** The headers meant for the other end: without hop-by-hop ones, including those {@code Connection} names. */
    private static MultiMap endToEnd(MultiMap headers) {
        Set<String> dropped = new java.util.HashSet<>(HOP_BY_HOP);
        for (String connection : headers.getAll(HttpHeaders.CONNECTION)) {
            for (String token : connection.split(",")) {
                dropped.add(token.strip().toLowerCase(Locale.ROOT));
            }
        }
        MultiMap out = MultiMap.caseInsensitiveMultiMap();
        for (var header : headers) {
            if (!dropped.contains(header.getKey().toLowerCase(Locale.ROOT))) {
                out.add(header.getKey(), header.getValue());
            }
        }
        return out;
    }

    private static void refuse(HttpServerRequest request, int status, String message) {
        if (request.response().headWritten()) {
            request.connection().close();
            return;
        }
        // The request may be unread (paused, with a body): the connection cannot carry another one.
        request.response().setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, "text/plain; charset=utf-8")
                .putHeader(HttpHeaders.CONNECTION, "close").end(message + "\n")
                .onComplete(sent -> request.connection().close());
    }
}
