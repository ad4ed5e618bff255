package dev.kelpie.daemon.config;

import io.smallrye.config.ConfigSourceContext;
import io.smallrye.config.ConfigSourceFactory;
import io.smallrye.config.ConfigValue;
import io.smallrye.config.PropertiesConfigSource;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.eclipse.microprofile.config.spi.ConfigSource;

/**
 * Turns {@code kelpie.api.tls.*} into the Quarkus settings that put TLS on the TCP listener: a named TLS
 * configuration with the PEM key pair (and the client CA as its trust store), the HTTP server pointed at it on
 * the API port, and plaintext TCP disabled (client certificates are requested by the build-time
 * {@code quarkus.http.ssl.client-auth=REQUEST}). Without {@code kelpie.api.tls.cert}
 * it adds nothing, so the daemon's TCP stays plaintext (and loopback-only, see ApiExposure).
 */
public final class ApiTlsConfigSourceFactory implements ConfigSourceFactory {

    static final String TLS_CONFIGURATION = "kelpie-api";
    private static final int ORDINAL = 260; // above application.properties, below env and system properties

    @Override
    public Iterable<ConfigSource> getConfigSources(ConfigSourceContext context) {
        String cert = value(context, "kelpie.api.tls.cert");
        if (cert == null) {
            return List.of();
        }
        String prefix = "quarkus.tls." + TLS_CONFIGURATION + ".";
        Map<String, String> properties = new HashMap<>();
        properties.put(prefix + "key-store.pem.api.cert", cert);
        String key = value(context, "kelpie.api.tls.key");
        if (key != null) {
            properties.put(prefix + "key-store.pem.api.key", key);
        }
        String clientCa = value(context, "kelpie.api.tls.client-ca");
        if (clientCa != null) {
            properties.put(prefix + "trust-store.pem.certs", clientCa);
        }
        properties.put("quarkus.http.tls-configuration-name", TLS_CONFIGURATION);
        properties.put("quarkus.http.insecure-requests", "disabled");
        String port = value(context, "quarkus.http.port");
        properties.put("quarkus.http.ssl-port", port == null ? "7411" : port);
        return List.of(new PropertiesConfigSource(properties, "kelpie-api-tls", ORDINAL));
    }

    private static String value(ConfigSourceContext context, String name) {
        ConfigValue value = context.getValue(name);
        return value == null || value.getValue() == null || value.getValue().isBlank() ? null : value.getValue();
    }
}
