package dev.kelpie.daemon.config;

import com.sun.security.auth.module.UnixSystem;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.eclipse.microprofile.config.spi.ConfigSource;

/**
 * Default locations that depend on the user running the daemon: root gets the system paths
 * ({@code /run/kelpie/kelpied.sock}, {@code /var/lib/kelpie}, {@code /var/cache/kelpie}), anyone else per-user paths
 * ({@code $XDG_RUNTIME_DIR/kelpie/kelpied.sock}, {@code ~/.kelpie}, {@code $XDG_CACHE_HOME/kelpie} or
 * {@code ~/.cache/kelpie}).
 *
 * <p>Its ordinal is below application.properties, environment variables and system properties, so any of those
 * overrides it.
 */
public final class DefaultPathsConfigSource implements ConfigSource {

    static final String STATE_DIR = "kelpie.state-dir";
    static final String API_SOCKET = "kelpie.api.socket";
    static final String PROBE_CACHE_DIR = "kelpie.probe.cache-dir";
    private static final int ORDINAL = 50;

    private final Map<String, String> defaults;

    public DefaultPathsConfigSource() {
        this(new UnixSystem().getUid(), System.getenv());
    }

    DefaultPathsConfigSource(long uid, Map<String, String> env) {
        this.defaults = Map.of(STATE_DIR, stateDir(uid, env).toString(), API_SOCKET, apiSocket(uid, env).toString(),
                PROBE_CACHE_DIR, cacheDir(uid, env).toString());
    }

    /** Shared by every daemon of the user (or of the host, for root): what it holds is true of the host. */
    private static Path cacheDir(long uid, Map<String, String> env) {
        if (uid == 0) {
            return Path.of("/var/cache/kelpie");
        }
        String cacheHome = env.get("XDG_CACHE_HOME");
        if (cacheHome != null && !cacheHome.isBlank()) {
            return Path.of(cacheHome, "kelpie");
        }
        return Path.of(env.getOrDefault("HOME", "/tmp/kelpie-" + uid), ".cache", "kelpie");
    }

    private static Path stateDir(long uid, Map<String, String> env) {
        if (uid == 0) {
            return Path.of("/var/lib/kelpie");
        }
        return Path.of(env.getOrDefault("HOME", "/tmp/kelpie-" + uid), ".kelpie");
    }

    private static Path apiSocket(long uid, Map<String, String> env) {
        if (uid == 0) {
            return Path.of("/run/kelpie/kelpied.sock");
        }
        String runtimeDir = env.get("XDG_RUNTIME_DIR");
        if (runtimeDir != null && !runtimeDir.isBlank()) {
            return Path.of(runtimeDir, "kelpie", "kelpied.sock");
        }
        // macOS has no XDG_RUNTIME_DIR, and its $TMPDIR is long; /tmp keeps the path well under 104 bytes.
        return Path.of("/tmp", "kelpie-" + uid, "kelpied.sock");
    }

    @Override
    public Set<String> getPropertyNames() {
        return defaults.keySet();
    }

    @Override
    public String getValue(String propertyName) {
        return defaults.get(propertyName);
    }

    @Override
    public String getName() {
        return "kelpie-default-paths";
    }

    @Override
    public int getOrdinal() {
        return ORDINAL;
    }
}
