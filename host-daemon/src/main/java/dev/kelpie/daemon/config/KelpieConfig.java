package dev.kelpie.daemon.config;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * The daemon's own settings ({@code kelpie.*}). Defaults for paths depend on who runs the daemon and come
 * from {@link DefaultPathsConfigSource}; everything can be overridden by system properties or environment
 * variables ({@code KELPIE_STATE_DIR}, {@code KELPIE_API_SOCKET}, …).
 */
@ConfigMapping(prefix = "kelpie")
public interface KelpieConfig {

    /** Directory holding all of the daemon's state; one daemon at a time holds its lock. */
    Path stateDir();

    /** The gRPC API. */
    Api api();

    /** The QEMU backend. */
    Qemu qemu();

    /** The libkrun backend. */
    Libkrun libkrun();

    /** Accelerator probing. */
    Probe probe();

    interface Api {
        /** Unix socket the API listens on (the path must be shorter than 104 bytes, macOS's limit). */
        Path socket();

        /** TCP listener on 127.0.0.1 ({@code quarkus.http.port}); off by default. */
        Tcp tcp();
    }

    interface Tcp {
        /** Also listen on loopback TCP. */
        @WithDefault("false")
        boolean enabled();
    }

    interface Qemu {
        /** qemu-system binary; default {@code qemu-system-<host arch>} from PATH. */
        Optional<String> binary();
    }

    interface Libkrun {
        /** libkrun library name or path; default {@code libkrun.so.1} (Linux) or {@code libkrun.1.dylib} (macOS). */
        Optional<String> library();
    }

    interface Probe {
        /**
         * A guest kernel to boot when probing accelerators. A device node that opens proves nothing (on some hosts
         * /dev/kvm opens yet Linux guests hang), so an accelerator counts as available only after it booted a kernel.
         */
        Optional<Path> kernel();

        /** How long a probe boot may take before the accelerator is declared unusable. */
        @WithDefault("20s")
        Duration bootTimeout();
    }
}
