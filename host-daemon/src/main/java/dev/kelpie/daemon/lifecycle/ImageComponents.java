package dev.kelpie.daemon.lifecycle;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.config.KelpieConfig;
import dev.kelpie.daemon.hypervisor.probe.HostPlatform;
import dev.kelpie.daemon.images.ImageCatalog;
import dev.kelpie.daemon.images.ImageCompatibility;
import dev.kelpie.daemon.images.LocalImageDirectory;
import dev.kelpie.daemon.images.cache.ImageCache;
import dev.kelpie.daemon.images.oci.OciImageStore;
import dev.kelpie.daemon.images.oci.OciPlatform;
import dev.kelpie.daemon.images.oci.OciPuller;
import dev.kelpie.daemon.images.oci.OciRegistryClient;
import dev.kelpie.daemon.images.oci.OciRegistrySettings;
import dev.kelpie.daemon.images.oci.OciBootImages;
import dev.kelpie.daemon.images.oci.OciBootSource;
import dev.kelpie.daemon.images.oci.OciRootBuilder;
import dev.kelpie.daemon.images.pull.GithubReleaseSource;
import dev.kelpie.daemon.images.pull.ImagePuller;
import dev.kelpie.daemon.images.pull.LocalReleaseSource;
import dev.kelpie.daemon.images.pull.ReleaseSource;
import dev.kelpie.daemon.images.pull.ResumableDownload;
import dev.kelpie.daemon.images.pull.S3ReleaseSource;
import dev.kelpie.daemon.images.trust.MinisignPublicKey;
import dev.kelpie.daemon.images.trust.TrustedKeys;
import dev.kelpie.teleport.store.S3Clients;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.PreDestroy;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;

/** Wires the image cache, its sources and trust from {@code kelpie.images.*}. */
@ApplicationScoped
public class ImageComponents {

    private static final String RELEASE_KEY_RESOURCE = "/dev/kelpie/daemon/images/kelpie-release.pub";
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration PROGRESS_INTERVAL = Duration.ofMillis(250);

    @Produces
    @Singleton
    ImageCache imageCache(KelpieConfig config, ObjectMapper json) {
        return new ImageCache(config.images().cacheDir().orElse(config.stateDir().resolve("images")), json,
                Clock.systemUTC());
    }

    /**
     * Opens the cache (creating its layout, collecting what a crash left) once the preflight has checked the state
     * directory: the gRPC services that hold the cache are built before any startup observer runs.
     */
    void openImageCache(@Observes @Priority(5) StartupEvent event, ImageCache cache) {
        cache.open();
    }

    /** Watches downloads for stalls; one thread for all of them. */
    private final ScheduledExecutorService pullWatchdog =
            Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().daemon().name("pull-watchdog").factory());

    @PreDestroy
    void stopPullWatchdog() {
        pullWatchdog.shutdownNow();
    }

    @Produces
    @Singleton
    ImagePuller imagePuller(KelpieConfig config, ObjectMapper json, ImageCache cache) {
        KelpieConfig.Images images = config.images();
        return new ImagePuller(sources(images, json), trustedKeys(images), cache, compatibility(), json,
                Executors.newVirtualThreadPerTaskExecutor(), pullWatchdog, images.stallTimeout(), PROGRESS_INTERVAL);
    }

    @Produces
    @Singleton
    OciImageStore ociImageStore(ImageCache cache, ObjectMapper json) {
        return new OciImageStore(cache, json);
    }

    @Produces
    @Singleton
    OciPuller ociPuller(KelpieConfig config, ObjectMapper json, OciImageStore store) {
        KelpieConfig.Images images = config.images();
        return new OciPuller(new OciRegistryClient(ociSettings(images.oci()), ociExecutor), store,
                new ResumableDownload(pullWatchdog, images.stallTimeout(), PROGRESS_INTERVAL), json, ociExecutor,
                Clock.systemUTC(), OciPlatform.forArch(HostPlatform.current().arch()));
    }

    @Produces
    @Singleton
    OciRootBuilder ociRootBuilder(KelpieConfig config, ImageCache cache) {
        return new OciRootBuilder(cache, config.images().oci().maxRootBytes());
    }

    /** OCI pulls and the registry client's requests run on virtual threads. */
    private final ExecutorService ociExecutor = Executors.newVirtualThreadPerTaskExecutor();

    @PreDestroy
    void stopOciExecutor() {
        ociExecutor.shutdownNow();
    }

    static OciRegistrySettings ociSettings(KelpieConfig.Oci oci) {
        Map<String, OciRegistrySettings.Credentials> credentials = new java.util.HashMap<>();
        oci.credentials().forEach((host, c) -> credentials.put(host,
                new OciRegistrySettings.Credentials(c.username(), c.password())));
        return new OciRegistrySettings(Set.copyOf(oci.insecureRegistries().orElse(List.of())), credentials,
                oci.dockerConfig(), oci.caFiles().orElse(List.of()));
    }

    /** Also the sandbox manager's {@code ImageSource}. */
    @Produces
    @Singleton
    OciBootSource ociBootSource(OciImageStore store, OciPuller puller, OciRootBuilder roots) {
        return new OciBootImages(store, puller, roots);
    }

    @Produces
    @Singleton
    ImageCatalog imageCatalog(KelpieConfig config, ObjectMapper json, ImageCache cache, ImagePuller puller) {
        return new ImageCatalog(cache, new LocalImageDirectory(config.images().dirs().orElse(List.of()), json), puller,
                compatibility(), config.images().pullOnCreate(), config.images().pullTimeout());
    }

    private static ImageCompatibility compatibility() {
        return new ImageCompatibility();
    }

    static List<ReleaseSource> sources(KelpieConfig.Images images, ObjectMapper json) {
        Map<String, KelpieConfig.Source> configured = images.sources();
        List<String> order = images.sourceOrder().orElse(configured.keySet().stream().sorted().toList());
        HttpClient http = HttpClient.newBuilder().connectTimeout(CONNECT_TIMEOUT)
                .followRedirects(HttpClient.Redirect.NEVER).build();
        List<ReleaseSource> sources = new ArrayList<>();
        for (String name : order) {
            KelpieConfig.Source s = configured.get(name);
            if (s == null) {
                throw new IllegalArgumentException("kelpie.images.source-order names '" + name
                        + "', which is not configured under kelpie.images.sources");
            }
            boolean signed = !s.allowUnsigned();
            sources.add(switch (s.type()) {
                case "github" -> new GithubReleaseSource(name, s.apiUrl(), required(s.repo(), name, "repo"),
                        s.tagPrefix(), s.token(), signed, http, json, images.stallTimeout());
                case "s3" -> new S3ReleaseSource(name, S3Clients.create(s.endpoint(), s.region(), s.pathStyle(),
                        s.accessKeyId(), s.secretAccessKey(), images.stallTimeout()), required(s.bucket(), name, "bucket"),
                        s.prefix().orElse(""), signed);
                case "local" -> new LocalReleaseSource(name, required(s.path(), name, "path"), signed);
                default -> throw new IllegalArgumentException("kelpie.images.sources." + name + ".type is '" + s.type()
                        + "'; expected github, s3 or local");
            });
        }
        return sources;
    }

    private static <T> T required(java.util.Optional<T> value, String source, String key) {
        return value.orElseThrow(() -> new IllegalArgumentException("kelpie.images.sources." + source + "." + key
                + " is required for this source type"));
    }

    static TrustedKeys trustedKeys(KelpieConfig.Images images) {
        List<MinisignPublicKey> keys = new ArrayList<>();
        for (String key : images.trustedKeys().orElse(List.of(bundledReleaseKey()))) {
            String text = key;
            if (!key.startsWith("RW") && !key.startsWith("untrusted comment:")) {
                try {
                    text = Files.readString(Path.of(key), StandardCharsets.UTF_8);
                } catch (IOException e) {
                    throw new IllegalArgumentException("kelpie.images.trusted-keys: '" + key
                            + "' is neither a minisign public key nor a readable file: " + e.getMessage());
                }
            }
            keys.add(MinisignPublicKey.parse(text));
        }
        return new TrustedKeys(keys);
    }

    private static String bundledReleaseKey() {
        try (InputStream in = ImageComponents.class.getResourceAsStream(RELEASE_KEY_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("the bundled release key " + RELEASE_KEY_RESOURCE
                        + " is missing from the daemon's jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the bundled release key: " + e.getMessage(), e);
        }
    }
}
