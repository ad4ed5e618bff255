package dev.kelpie.daemon.images.oci;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.images.cache.ImageCache;
import dev.kelpie.daemon.images.oci.TestImagePusher.Layer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Builds real ext4 roots with mke2fs and reads them back with debugfs (both from e2fsprogs). */
class OciRootBuilderTest {

    private static final long ONE_MIB = 1 << 20;

    @TempDir
    Path tmp;

    private final ObjectMapper json = new ObjectMapper();
    private ImageCache cache;
    private OciImageStore store;
    private Path agent;

    @BeforeEach
    void setUp() throws IOException {
        cache = new ImageCache(tmp.resolve("cache"), json, Clock.systemUTC());
        cache.open();
        store = new OciImageStore(cache, json);
        agent = Files.writeString(tmp.resolve("kelpie-agent"), "our agent, not the image's");
    }

    private OciImage cached(List<Layer> layers) throws IOException {
        return cached(store, tmp, layers);
    }

    /** Installs an image of {@code layers} in {@code store}, as a pull would, from files written under {@code tmp}. */
    static OciImage cached(OciImageStore store, Path tmp, List<Layer> layers) throws IOException {
        return cached(store, tmp, layers, "{}");
    }

    static OciImage cached(OciImageStore store, Path tmp, List<Layer> layers, String configJson) throws IOException {
        Files.createDirectories(tmp);
        Map<String, Path> downloads = new LinkedHashMap<>();
        List<OciDescriptor> descriptors = new ArrayList<>();
        for (Layer l : layers) {
            String sha = TestImagePusher.sha256(l.bytes());
            downloads.put(sha, Files.write(tmp.resolve(sha), l.bytes()));
            descriptors.add(new OciDescriptor(l.mediaType(), sha, l.bytes().length));
        }
        byte[] config = configJson.getBytes(StandardCharsets.UTF_8);
        String configSha = TestImagePusher.sha256(config);
        downloads.put(configSha, Files.write(tmp.resolve(configSha), config));
        byte[] manifest = ("manifest of " + descriptors).getBytes(StandardCharsets.UTF_8);
        String manifestSha = TestImagePusher.sha256(manifest);
        downloads.put(manifestSha, Files.write(tmp.resolve(manifestSha), manifest));
        OciImageConfig imageConfig = new OciImageConfig(OciPlatform.forArch("x86_64"), List.of(), "", "", List.of(),
                List.of());
        return store.install(new OciImage(manifestSha, manifest.length, "localhost/test", List.of("localhost/test:1"),
                imageConfig, new OciDescriptor("application/vnd.oci.image.config.v1+json", configSha, config.length),
                descriptors, 0), downloads);
    }

    static String debugfs(Path ext4, String request) throws Exception {
        Process p = new ProcessBuilder("debugfs", "-R", request, ext4.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        return out;
    }

    private void assertNoStaging() throws IOException {
        try (Stream<Path> s = Files.list(cache.root().resolve("staging"))) {
            assertEquals(List.of(), s.toList(), "no staging tree is left");
        }
    }

    @Test
    void layersBecomeAnExt4RootWithOurAgentAndTheMountPoints() throws Exception {
        OciImage image = cached(List.of(TestImagePusher.gzip(TestImagePusher.tar(t -> {
            TestImagePusher.file(t, "etc/gone", 0644, "gone");
            TestImagePusher.file(t, "bin/su", 04755, "setuid");
            TestImagePusher.file(t, ".kelpie/kelpie-agent", 0755, "the image's impostor");
        })), TestImagePusher.zstd(TestImagePusher.tar(t -> {
            TestImagePusher.file(t, "etc/.wh.gone", 0644, "");
            TestImagePusher.file(t, "srv/marker", 0644, "only-in-image");
        }))));

        Path root = new OciRootBuilder(cache, 64 * ONE_MIB).build(image, agent);

        assertEquals(cache.ociRoot(image.manifestSha256()), root);
        assertTrue(debugfs(root, "cat " + OciRootBuilder.AGENT_PATH).contains("our agent, not the image's"));
        assertTrue(debugfs(root, "cat /srv/marker").contains("only-in-image"));
        assertTrue(debugfs(root, "stat /bin/su").contains("Mode:  04755"), debugfs(root, "stat /bin/su"));
        String etc = debugfs(root, "ls /etc");
        assertFalse(etc.contains("gone"), etc);
        String top = debugfs(root, "ls /");
        for (String dir : OciRootBuilder.MOUNT_POINTS) {
            assertTrue(top.contains(dir), dir + " in " + top);
        }
        assertNoStaging();
        assertEquals(root, new OciRootBuilder(cache, 64 * ONE_MIB).build(image, agent), "built once, then cached");

        long freed = store.remove(image.manifestSha256());
        assertFalse(Files.exists(root), "removing the image removes its root");
        assertTrue(freed > 0);
    }

    @Test
    void aRootOverTheLimitLeavesNothing() throws Exception {
        OciImage image = cached(List.of(TestImagePusher.gzip(TestImagePusher.tar(t -> TestImagePusher.file(t,
                "big", 0644, "z".repeat(3 * (int) ONE_MIB))))));

        var e = assertThrows(RootTooLargeException.class, () -> new OciRootBuilder(cache, 2 * ONE_MIB)
                .build(image, agent));
        assertTrue(e.getMessage().contains("kelpie.images.oci.max-root-bytes"), e.getMessage());
        assertFalse(Files.exists(cache.ociRoot(image.manifestSha256())));
        assertNoStaging();
    }

    @Test
    void twoBuildsOfOneImageOnTwoCachesAreTheSameBytes() throws Exception {
        List<Layer> layers = List.of(TestImagePusher.gzip(TestImagePusher.tar(t -> {
            TestImagePusher.file(t, "etc/one", 0644, "one");
            TestImagePusher.file(t, "usr/bin/tool", 04755, "setuid tool");
            TestImagePusher.file(t, "z/a/b/c", 0600, "deep");
        })), TestImagePusher.zstd(TestImagePusher.tar(t -> {
            // A directory a later layer changes gets this build's time on disk, which must not reach the root.
            TestImagePusher.file(t, "etc/two", 0644, "two");
            TestImagePusher.file(t, "etc/.wh.one", 0644, "");
        })));
        String config = "{\"created\":\"2024-05-01T10:00:00Z\"}";

        List<byte[]> roots = new ArrayList<>();
        List<String> hashes = new ArrayList<>();
        for (String host : List.of("host-a", "host-b")) {
            ImageCache hostCache = new ImageCache(tmp.resolve(host), json, Clock.systemUTC());
            hostCache.open();
            OciImage image = cached(new OciImageStore(hostCache, json), tmp.resolve(host + "-downloads"), layers, config);
            Path hostAgent = Files.copy(agent, tmp.resolve(host + "-agent"));
            OciRootBuilder builder = new OciRootBuilder(hostCache, 64 * ONE_MIB);
            Path root = builder.build(image, hostAgent);
            roots.add(Files.readAllBytes(root));
            hashes.add(builder.rootSha256(image.manifestSha256()).orElseThrow());
            assertEquals(dev.kelpie.daemon.images.cache.BlobHashing.sha256(root), hashes.getLast(),
                    "the recorded sha256 is the root's");
        }

        assertTrue(java.util.Arrays.equals(roots.get(0), roots.get(1)), "the same image gives the same root bytes");
        assertEquals(hashes.get(0), hashes.get(1));
        Path root = tmp.resolve("host-a").resolve("oci");
        try (Stream<Path> files = Files.list(root)) {
            Path ext4 = files.filter(f -> f.toString().endsWith(".ext4")).findFirst().orElseThrow();
            String stat = debugfs(ext4, "stat /etc/two");
            assertTrue(stat.contains("2024"), "times are clamped to the image's created time: " + stat);
        }
    }
}
