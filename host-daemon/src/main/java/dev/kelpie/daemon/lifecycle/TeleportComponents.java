package dev.kelpie.daemon.lifecycle;

import dev.kelpie.daemon.config.KelpieConfig;
import dev.kelpie.daemon.images.ImageSource;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import dev.kelpie.daemon.teleport.PackageService;
import dev.kelpie.daemon.teleport.PackageStores;
import dev.kelpie.daemon.teleport.Restorer;
import dev.kelpie.daemon.teleport.Snapshotter;
import dev.kelpie.daemon.teleport.StagingArea;
import dev.kelpie.teleport.store.LocalPackageStore;
import dev.kelpie.teleport.store.PackageStore;
import dev.kelpie.teleport.store.S3Clients;
import dev.kelpie.teleport.store.S3PackageStore;
import dev.kelpie.teleport.store.SealKey;
import dev.kelpie.teleport.store.SealedPackageStore;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import java.io.IOException;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Map;

/** Wires teleport from {@code kelpie.teleport.*}: package stores, snapshots, restores and package transfers. */
@ApplicationScoped
public class TeleportComponents {

    /** The store that always exists, in the state directory unless configured elsewhere. */
    static final String LOCAL_STORE = "local";
    private static final int PACKAGE_ID_BYTES = 8;
    /** A stalled S3 transfer fails after this instead of holding a snapshot forever. */
    private static final Duration S3_SOCKET_TIMEOUT = Duration.ofMinutes(2);

    private final SecureRandom random = new SecureRandom();

    @Produces
    @Singleton
    StagingArea stagingArea(KelpieConfig config) {
        return new StagingArea(config.stateDir().resolve("teleport-staging"));
    }

    /**
     * Leftovers of snapshots and restores that a crash interrupted go, and the stores open, once the preflight has
     * checked the state directory and before the first request.
     */
    void openTeleport(@Observes @Priority(5) StartupEvent event, StagingArea staging, PackageStores stores)
            throws IOException {
        staging.clean();
        stores.open();
    }

    @Produces
    @Singleton
    PackageStores packageStores(KelpieConfig config) {
        Map<String, KelpieConfig.PackageStoreConfig> configured = config.teleport().stores();
        Map<String, PackageStores.Opener> stores = new java.util.TreeMap<>();
        if (!configured.containsKey(LOCAL_STORE)) {
            stores.put(LOCAL_STORE, () -> LocalPackageStore.open(LOCAL_STORE, config.stateDir().resolve("packages")));
        }
        configured.forEach((name, store) -> stores.put(name, () -> store(name, store, config)));
        return new PackageStores(stores, config.teleport().defaultStore());
    }

    private static PackageStore store(String name, KelpieConfig.PackageStoreConfig s, KelpieConfig config)
            throws IOException {
        PackageStore store = unsealed(name, s, config);
        return s.sealKeyFile().isEmpty() ? store : new SealedPackageStore(store, SealKey.read(s.sealKeyFile().get()));
    }

    private static PackageStore unsealed(String name, KelpieConfig.PackageStoreConfig s, KelpieConfig config)
            throws IOException {
        String key = "kelpie.teleport.stores." + name;
        return switch (s.type()) {
            case "local" -> LocalPackageStore.open(name, s.path().orElse(config.stateDir().resolve("packages-" + name)));
            case "s3" -> new S3PackageStore(name, S3Clients.create(s.endpoint(), s.region(), s.pathStyle(),
                    s.accessKeyId(), s.secretAccessKey(), S3_SOCKET_TIMEOUT),
                    s.bucket().orElseThrow(() -> new IllegalArgumentException(key + ".bucket is required for type s3")),
                    s.prefix());
            default -> throw new IllegalArgumentException(key + ".type is '" + s.type() + "'; expected local or s3");
        };
    }

    @Produces
    @Singleton
    Snapshotter snapshotter(SandboxManager sandboxes, ImageSource images, PackageStores stores, StagingArea staging) {
        return new Snapshotter(sandboxes, images, stores, staging, Clock.systemUTC(), () -> {
            byte[] bytes = new byte[PACKAGE_ID_BYTES];
            random.nextBytes(bytes);
            return "pkg-" + HexFormat.of().formatHex(bytes);
        });
    }

    @Produces
    @Singleton
    Restorer restorer(SandboxManager sandboxes, ImageSource images, PackageStores stores, StagingArea staging) {
        return new Restorer(sandboxes, images, stores, staging, Clock.systemUTC(), random);
    }

    @Produces
    @Singleton
    PackageService packageService(PackageStores stores, StagingArea staging, KelpieConfig config,
            SandboxManager sandboxes) {
        return new PackageService(stores, staging, config.teleport().maxPackageBytes(), sandboxes::forgetMemory);
    }
}
