import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.images.cache.ImageCache;
import dev.kelpie.daemon.images.oci.OciImage;
import dev.kelpie.daemon.images.oci.OciImageStore;
import dev.kelpie.daemon.images.oci.OciPlatform;
import dev.kelpie.daemon.images.oci.OciPuller;
import dev.kelpie.daemon.images.oci.OciRegistryClient;
import dev.kelpie.daemon.images.oci.OciRegistrySettings;
import dev.kelpie.daemon.images.oci.OciRootBuilder;
import dev.kelpie.daemon.images.oci.TestImagePusher;
import dev.kelpie.daemon.images.oci.TestRegistry;
import dev.kelpie.daemon.images.pull.ResumableDownload;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * OCI pull and root build against Debian's docker-registry on loopback (issue 20): a ~30 MB image (a 20 MB gzip layer
 * and an 8 MB zstd layer of incompressible data, and a layer of 2,000 small files), pulled cold into an empty cache
 * and its root built with mke2fs; then warm, where the blobs and the root are cached and only the manifest is
 * fetched again. Usage: java -cp CLASSPATH bench/OciBench.java SCRATCH_DIR AGENT_BINARY
 */
public class OciBench {

    static final int RUNS = 3;
    static final int RANDOM_GZIP_MIB = 20;
    static final int RANDOM_ZSTD_MIB = 8;
    static final int SMALL_FILES = 2000;

    public static void main(String[] args) throws Exception {
        Path scratch = Path.of(args[0]);
        Path agent = Path.of(args[1]);
        Random random = new Random(20);
        byte[] big = new byte[RANDOM_GZIP_MIB << 20];
        random.nextBytes(big);
        byte[] medium = new byte[RANDOM_ZSTD_MIB << 20];
        random.nextBytes(medium);
        List<TestImagePusher.Layer> layers = List.of(
                TestImagePusher.gzip(TestImagePusher.tar(t -> file(t, "opt/big.bin", big))),
                TestImagePusher.zstd(TestImagePusher.tar(t -> file(t, "opt/medium.bin", medium))),
                TestImagePusher.gzip(TestImagePusher.tar(t -> {
                    for (int i = 0; i < SMALL_FILES; i++) {
                        TestImagePusher.file(t, "usr/share/doc/f" + i, 0644, "small file " + i + "\n".repeat(1000));
                    }
                })));
        long bytes = layers.stream().mapToLong(l -> l.bytes().length).sum();
        try (TestRegistry registry = TestRegistry.start(Files.createDirectories(scratch.resolve("registry")), "")) {
            new TestImagePusher(registry.host(), null).pushImage("bench/image", "1", "amd64", List.of(), "/", layers);
            String reference = registry.host() + "/bench/image:1";
            System.out.printf("image: %.1f MB compressed in %d layers%n", bytes / 1e6, layers.size());
            System.out.println("| run | cold pull | cold root build | root size | warm pull | warm root |");
            System.out.println("|---|---|---|---|---|---|");
            for (int run = 1; run <= RUNS; run++) {
                Path cacheDir = scratch.resolve("cache-" + run);
                ObjectMapper json = new ObjectMapper();
                ImageCache cache = new ImageCache(cacheDir, json, Clock.systemUTC());
                cache.open();
                OciImageStore store = new OciImageStore(cache, json);
                var watchdog = Executors.newSingleThreadScheduledExecutor();
                OciPuller puller = new OciPuller(new OciRegistryClient(new OciRegistrySettings(Set.of(registry.host()),
                        Map.of(), Optional.empty(), List.of()), Executors.newVirtualThreadPerTaskExecutor()), store,
                        new ResumableDownload(watchdog, Duration.ofSeconds(30), Duration.ofSeconds(1)), json,
                        Executors.newVirtualThreadPerTaskExecutor(), Clock.systemUTC(), OciPlatform.forArch("x86_64"));
                OciRootBuilder builder = new OciRootBuilder(cache, 8L << 30);
                long t0 = System.nanoTime();
                OciImage image = puller.pull(reference, p -> {}).get(10, TimeUnit.MINUTES);
                long t1 = System.nanoTime();
                Path root = builder.build(image, agent);
                long t2 = System.nanoTime();
                OciImage again = puller.pull(reference, p -> {}).get(10, TimeUnit.MINUTES);
                long t3 = System.nanoTime();
                builder.build(again, agent);
                long t4 = System.nanoTime();
                System.out.printf("| %d | %d ms | %d ms | %.1f MB | %d ms | %d ms |%n", run, ms(t1 - t0), ms(t2 - t1),
                        Files.size(root) / 1e6, ms(t3 - t2), ms(t4 - t3));
                watchdog.shutdownNow();
            }
        }
    }

    static void file(org.apache.commons.compress.archivers.tar.TarArchiveOutputStream tar, String name, byte[] data)
            throws java.io.IOException {
        var e = new org.apache.commons.compress.archivers.tar.TarArchiveEntry(name);
        e.setSize(data.length);
        e.setMode(0644);
        tar.putArchiveEntry(e);
        tar.write(data);
        tar.closeArchiveEntry();
    }

    static long ms(long nanos) {
        return nanos / 1_000_000;
    }
}
