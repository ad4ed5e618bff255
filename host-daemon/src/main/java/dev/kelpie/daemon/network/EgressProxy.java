package dev.kelpie.daemon.network;

import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
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
    /**
     * Headers about one hop, never passed on (RFC 9110 7.6.1, plus the proxy's own), and Host, which is set from the
     * checked target so that the upstream never sees a different name than the one the allowlist allowed.
     */
    private static final Set<String> HOP_BY_HOP = Set.of("connection", "keep-alive", "proxy-connection",
            "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "host");

    private final Vertx vertx;
    private final NetClient tunnels;
    private final HttpClient forwards;

    public EgressProxy(Vertx vertx) {
        this.vertx = vertx;
        this.tunnels = vertx.createNetClient(new NetClientOptions().setConnectTimeout(CONNECT_TIMEOUT_MS));
        this.forwards = vertx.createHttpClient(new HttpClientOptions().setConnectTimeout(CONNECT_TIMEOUT_MS)
                .setKeepAlive(false));
    }

    @Override
    public AutoCloseable open(String sandboxId, Path socket, EgressAllowlist allowlist) throws IOException {
        Files.deleteIfExists(socket);
        HttpServer server = vertx.createHttpServer(new HttpServerOptions())
                .requestHandler(request -> handle(sandboxId, allowlist, request));
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

    private void handle(String sandboxId, EgressAllowlist allowlist, HttpServerRequest request) {
        // Held until the destination is checked: a body (or its end) arriving meanwhile must wait for the upstream.
        request.pause();
        ProxyTarget target;
        try {
            target = request.method() == HttpMethod.CONNECT ? ProxyTarget.ofAuthority(request.uri())
                    : ProxyTarget.ofAbsoluteUri(request.uri());
        } catch (IllegalArgumentException e) {
            refuse(request, 400, e.getMessage());
            return;
        }
        vertx.<EgressAllowlist.Verdict>executeBlocking(() -> check(allowlist, target), false).onComplete(checked -> {
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
                tunnel(request, target, address);
            } else {
                forward(request, target, address);
            }
        });
    }

    /** Resolves and checks on a worker thread: name lookups block. */
    private static EgressAllowlist.Verdict check(EgressAllowlist allowlist, ProxyTarget target) {
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
        return allowlist.check(target.host(), target.port(), addresses, own::contains);
    }

    private void tunnel(HttpServerRequest request, ProxyTarget target, InetAddress address) {
        tunnels.connect(SocketAddress.inetSocketAddress(target.port(), address.getHostAddress()))
                .onFailure(e -> refuse(request, 502, "kelpie: connecting to " + target + " failed: " + e.getMessage()))
                .onSuccess(upstream -> request.toNetSocket().onComplete(down -> {
                    if (down.failed()) {
                        upstream.close();
                        return;
                    }
                    splice(down.result(), upstream);
                }));
    }

    private static void splice(NetSocket guest, NetSocket upstream) {
        guest.pipeTo(upstream);
        upstream.pipeTo(guest);
    }

    private void forward(HttpServerRequest request, ProxyTarget target, InetAddress address) {
        RequestOptions options = new RequestOptions().setMethod(request.method())
                .setServer(SocketAddress.inetSocketAddress(target.port(), address.getHostAddress()))
                .setHost(target.host()).setPort(target.port()).setURI(target.pathAndQuery())
                .setHeaders(endToEnd(request.headers()));
        Future<Void> done = forwards.request(options).compose(upstream -> upstream.send(request).compose(response -> {
            request.response().setStatusCode(response.statusCode()).setStatusMessage(response.statusMessage());
            request.response().headers().addAll(endToEnd(response.headers()));
            return request.response().send(response);
        }));
        done.onFailure(e -> refuse(request, 502, "kelpie: forwarding to " + target + " failed: " + e.getMessage()));
    }

    private static MultiMap endToEnd(MultiMap headers) {
        MultiMap out = MultiMap.caseInsensitiveMultiMap();
        for (var header : headers) {
            if (!HOP_BY_HOP.contains(header.getKey().toLowerCase(Locale.ROOT))) {
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
