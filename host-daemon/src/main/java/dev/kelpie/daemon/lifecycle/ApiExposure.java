package dev.kelpie.daemon.lifecycle;

import dev.kelpie.daemon.config.KelpieConfig;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Optional;

/**
 * The rules for listening on TCP, checked before the daemon serves: plaintext only on loopback; off loopback,
 * TLS with at least one way for clients to authenticate (a client CA or a token file).
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
