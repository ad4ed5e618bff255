package dev.kelpie.daemon.lifecycle;

import dev.kelpie.daemon.api.ApiToken;
import dev.kelpie.daemon.config.KelpieConfig;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Optional;

/**
 * The rules for listening on TCP, checked before the daemon serves: plaintext only on loopback and only with a token
 * file; off loopback, TLS with at least one way for clients to authenticate (a client CA or a token file); a token file
 * that holds no token or one shorter than {@link ApiToken#MIN_TOKEN_BYTES} stops the start.
 */
final class ApiExposure {

    private ApiExposure() {}

    /** Why this TCP configuration must not start, or empty when it may. */
    static Optional<String> problem(KelpieConfig.Api api) {
        if (!api.tcp().enabled()) {
            return Optional.empty();
        }
        KelpieConfig.Tls tls = api.tls();
        if (tls.cert().isPresent() != tls.key().isPresent()) {
            return Optional.of("kelpie.api.tls.cert and kelpie.api.tls.key must be given together");
        }
        boolean loopback = isLoopback(api.tcp().host());
        if (!loopback && tls.cert().isEmpty()) {
            return Optional.of("kelpie.api.tcp.host=" + api.tcp().host() + " is off loopback: plaintext TCP is "
                    + "served on loopback only; configure kelpie.api.tls.cert and kelpie.api.tls.key");
        }
        if (tls.cert().isPresent() && tls.clientCa().isEmpty() && api.tokenFile().isEmpty()) {
            return Optional.of("TCP with TLS needs a way for clients to authenticate: kelpie.api.tls.client-ca "
                    + "and/or kelpie.api.token-file");
        }
        if (tls.cert().isEmpty() && api.tokenFile().isEmpty()) {
            return Optional.of("plaintext TCP on loopback needs kelpie.api.token-file: every local user can reach "
                    + api.tcp().host() + ", not only those who may open the socket");
        }
        if (api.tokenFile().isPresent()) {
            try {
                ApiToken.read(api.tokenFile().get());
            } catch (IllegalArgumentException e) {
                return Optional.of(e.getMessage());
            }
        }
        return Optional.empty();
    }

    private static boolean isLoopback(String host) {
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }
}
