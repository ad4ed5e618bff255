package dev.kelpie.daemon.api;

import dev.kelpie.daemon.config.KelpieConfig;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.net.SocketAddress;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.util.Optional;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.jboss.logging.Logger;

/**
 * Who may call the API, decided before any request reaches a service. The Unix socket is guarded by its mode
 * (0660, the service's group). Plaintext TCP exists only on loopback (ApiExposure refuses anything else at start).
 * Once TLS is configured every TCP request authenticates: a client certificate the TLS layer verified against
 * {@code kelpie.api.tls.client-ca}, or {@code Authorization: Bearer} with the token from
 * {@code kelpie.api.token-file}, which is accepted only over TLS. A refusal is a gRPC UNAUTHENTICATED status.
 */
@ApplicationScoped
public class ApiAccess {

    private static final Logger LOG = Logger.getLogger(ApiAccess.class);
    /** Runs before every other route, the gRPC one included. */
    private static final int FIRST_ROUTE_ORDER = Integer.MIN_VALUE;
    private static final int GRPC_UNAUTHENTICATED = 16;

    private final boolean tls;
    private final boolean clientCertificates;
    private final Optional<byte[]> token;

    @Inject
    public ApiAccess(KelpieConfig config) {
        this.tls = config.api().tls().cert().isPresent();
        // Without a configured CA the TLS layer would check certificates against the JDK's public CAs: not ours.
        this.clientCertificates = config.api().tls().clientCa().isPresent();
        this.token = config.api().tokenFile().map(file -> {
            try {
                return Files.readString(file, StandardCharsets.UTF_8).strip().getBytes(StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read kelpie.api.token-file " + file + ": " + e.getMessage(), e);
            }
        });
    }

    void install(@Observes Router router) {
        router.route().order(FIRST_ROUTE_ORDER).handler(this::check);
    }

    private void check(RoutingContext ctx) {
        HttpServerRequest request = ctx.request();
        SocketAddress remote = request.remoteAddress();
        if (remote == null || remote.isDomainSocket()) {
            ctx.next();
            return;
        }
        Optional<String> refusal = refusal(request, remote);
        if (refusal.isEmpty()) {
            ctx.next();
            return;
        }
        LOG.debugf("refused %s from %s: %s", request.path(), remote, refusal.get());
        // A trailers-only gRPC response: the status travels in the headers of an otherwise empty reply.
        ctx.response().setStatusCode(200).putHeader("content-type", "application/grpc")
                .putHeader("grpc-status", Integer.toString(GRPC_UNAUTHENTICATED))
                .putHeader("grpc-message", refusal.get()).end();
    }

    private Optional<String> refusal(HttpServerRequest request, SocketAddress remote) {
        if (!tls) {
            return isLoopback(remote) ? Optional.empty()
                    : Optional.of("plaintext TCP is served to loopback clients only");
        }
        if (!request.isSSL()) {
            return Optional.of("TCP clients must use TLS; a bearer token is accepted only over TLS");
        }
        if (clientCertificates && hasVerifiedClientCertificate(request.sslSession())) {
            return Optional.empty();
        }
        String authorization = request.getHeader("authorization");
        if (authorization != null && authorization.startsWith("Bearer ") && token.isPresent()
                && MessageDigest.isEqual(token.get(), authorization.substring(7).strip().getBytes(StandardCharsets.UTF_8))) {
            return Optional.empty();
        }
        return Optional.of(authorization == null
                ? "authenticate with a client certificate from the configured CA or a bearer token"
                : "the bearer token is not valid");
    }

    /** The TLS layer only hands over a certificate chain it verified against the client CA. */
    private static boolean hasVerifiedClientCertificate(SSLSession session) {
        if (session == null) {
            return false;
        }
        try {
            return session.getPeerCertificates().length > 0;
        } catch (SSLPeerUnverifiedException e) {
            return false;
        }
    }

    private static boolean isLoopback(SocketAddress remote) {
        try {
            return remote.hostAddress() != null && InetAddress.getByName(remote.hostAddress()).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }
}
