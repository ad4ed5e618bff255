package dev.kelpie.daemon.api.server;

import dev.kelpie.daemon.config.KelpieConfig;
import io.grpc.netty.GrpcSslContexts;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.nio.file.Path;
import java.util.Optional;
import javax.net.ssl.SSLException;

/**
 * TLS for the TCP listeners, from the PEM files of {@code kelpie.api.tls.*}. With a client CA, clients are asked for
 * a certificate (OPTIONAL: a token holder has none) and one from another CA fails the handshake; without one, no
 * certificate is asked for, so the JDK's public CAs never vouch for a client.
 */
final class ApiTls {

    private ApiTls() {}

    /** The gRPC listener's context (ALPN h2, ciphers fit for HTTP/2), or empty when TCP stays plaintext. */
    static Optional<SslContext> forGrpc(KelpieConfig.Tls tls) {
        return tls.cert().map(cert -> build(GrpcSslContexts.configure(builder(cert, tls))));
    }

    /** The metrics listener's context: the same keys and client CA, HTTP/1.1 without ALPN. */
    static Optional<SslContext> forMetrics(KelpieConfig.Tls tls) {
        return tls.cert().map(cert -> build(builder(cert, tls)));
    }

    private static SslContextBuilder builder(Path cert, KelpieConfig.Tls tls) {
        Path key = tls.key().orElseThrow(() -> new IllegalStateException("kelpie.api.tls.key is required with .cert"));
        SslContextBuilder builder = SslContextBuilder.forServer(cert.toFile(), key.toFile());
        tls.clientCa().ifPresent(ca -> builder.trustManager(ca.toFile()).clientAuth(ClientAuth.OPTIONAL));
        return builder;
    }

    private static SslContext build(SslContextBuilder builder) {
        try {
            return builder.build();
        } catch (SSLException e) {
            throw new IllegalStateException("cannot use the TLS files of kelpie.api.tls.*: " + e.getMessage(), e);
        }
    }
}
