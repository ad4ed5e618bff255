package dev.kelpie.daemon.api;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.config.KelpieConfig;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Optional;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.jboss.logging.Logger;

/**
 * Who may call the API, decided before any call reaches a service. The Unix socket is guarded by its mode
 * (0660, the service's group). Every TCP call authenticates. Plaintext TCP exists only on loopback (ApiExposure
 * refuses anything else at start), and there the token from {@code kelpie.api.token-file} is required as
 * {@code Authorization: Bearer}: every local user reaches loopback. With TLS, a client certificate the TLS layer
 * verified against {@code kelpie.api.tls.client-ca} or the token. A refusal is a gRPC UNAUTHENTICATED status.
 * The metrics endpoint asks the same question through {@link #refusal}.
 */
@ApplicationScoped
public class ApiAccess implements ServerInterceptor {

    private static final Logger LOG = Logger.getLogger(ApiAccess.class);
    private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization",
            Metadata.ASCII_STRING_MARSHALLER);
    private static final String BEARER = "Bearer ";

    private final boolean tls;
    private final boolean clientCertificates;
    private final Optional<byte[]> token;

    @Inject
    public ApiAccess(KelpieConfig config) {
        // Without a configured CA no client certificate is asked for; the JDK's public CAs never vouch for a client.
        this(config.api().tls().cert().isPresent(), config.api().tls().clientCa().isPresent(),
                config.api().tokenFile().map(ApiToken::read));
    }

    /**
     * @param tls whether TCP is served with TLS
     * @param clientCertificates whether a client certificate from the configured CA authenticates
     * @param token the bearer token, if one is configured
     */
    public ApiAccess(boolean tls, boolean clientCertificates, Optional<byte[]> token) {
        this.tls = tls;
        this.clientCertificates = clientCertificates;
        this.token = token;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
            ServerCallHandler<Q, R> next) {
        SocketAddress remote = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
        Optional<String> refusal = refusal(remote, call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION),
                headers.get(AUTHORIZATION));
        if (refusal.isEmpty()) {
            return next.startCall(call, headers);
        }
        LOG.debugf("refused %s from %s: %s", call.getMethodDescriptor().getFullMethodName(), remote, refusal.get());
        call.close(GrpcErrors.status(ErrorKind.UNAUTHENTICATED, refusal.get()), new Metadata());
        return new ServerCall.Listener<>() {};
    }

    /**
     * Why a request from {@code remote} must be refused, or empty when it may proceed. Only TCP peers are asked
     * anything: a Unix socket's peer got past the socket's file mode.
     *
     * @param session the connection's TLS session, null on plaintext
     * @param authorization the request's {@code Authorization} header, or null
     */
    public Optional<String> refusal(SocketAddress remote, SSLSession session, String authorization) {
        if (!(remote instanceof InetSocketAddress tcp)) {
            return Optional.empty();
        }
        if (!tls) {
            if (tcp.getAddress() == null || !tcp.getAddress().isLoopbackAddress()) {
                return Optional.of("plaintext TCP is served to loopback clients only");
            }
            // Every local user reaches 127.0.0.1, not only the socket's group: the token stands in for the file mode.
            return hasToken(authorization) ? Optional.empty() : Optional.of(authorization == null
                    ? "loopback TCP needs the bearer token (Authorization: Bearer, from kelpie.api.token-file)"
                    : "the bearer token is not valid");
        }
        if (session == null) {
            return Optional.of("TCP clients must use TLS; a bearer token is accepted only over TLS");
        }
        if (clientCertificates && hasVerifiedClientCertificate(session)) {
            return Optional.empty();
        }
        if (hasToken(authorization)) {
            return Optional.empty();
        }
        return Optional.of(authorization == null
                ? "authenticate with a client certificate from the configured CA or a bearer token"
                : "the bearer token is not valid");
    }

    private boolean hasToken(String authorization) {
        return authorization != null && authorization.startsWith(BEARER) && token.isPresent()
                && MessageDigest.isEqual(token.get(),
                        authorization.substring(BEARER.length()).strip().getBytes(StandardCharsets.UTF_8));
    }

    /** The TLS layer only hands over a certificate chain it verified against the client CA. */
    private static boolean hasVerifiedClientCertificate(SSLSession session) {
        try {
            return session.getPeerCertificates().length > 0;
        } catch (SSLPeerUnverifiedException e) {
            return false;
        }
    }
}
