package dev.kelpie.daemon.images.oci;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;
import dev.kelpie.daemon.images.IncompatibleImageException;
import dev.kelpie.daemon.images.cache.ImageCache;
import dev.kelpie.daemon.images.oci.TestImagePusher.Layer;
import dev.kelpie.daemon.images.pull.ImagePullException;
import dev.kelpie.daemon.images.pull.ImagePullException.Reason;
import dev.kelpie.daemon.images.pull.PullProgress;
import dev.kelpie.daemon.images.pull.ResumableDownload;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pulls from Debian's docker-registry (the CNCF distribution server) on loopback: an open one, and one behind a
 * bearer-token endpoint as Docker Hub's. Every failure must leave the cache as it was.
 */
class OciPullerTest {

    private static final long PULL_DEADLINE_SECONDS = 60;
    private static final String USER = "kelpie";
    private static final String PASSWORD = "s3cret-for-tests";

    @TempDir
    static Path shared;

    private static TestRegistry open;
    private static TestRegistry guarded;
    private static TokenServer tokens;
    private static TestImagePusher openPusher;
    private static TestImagePusher guardedPusher;
    private static TestRegistry anonymousTokenRegistry;
    private static TokenServer anonymousTokens;

    @TempDir
    Path tmp;

    private final ObjectMapper json = new ObjectMapper();
    private final ScheduledExecutorService watchdog = Executors.newSingleThreadScheduledExecutor();
    private ImageCache cache;
    private OciImageStore store;

    @BeforeAll
    static void startRegistries() throws Exception {
        assumeTrue(Files.isExecutable(TestRegistry.BINARY), TestRegistry.BINARY + " is not installed (scripts/packages.txt)");
        open = TestRegistry.start(Files.createDirectories(shared.resolve("open")), "");
        openPusher = new TestImagePusher(open.host(), null);
        Path guardedDir = Files.createDirectories(shared.resolve("guarded"));
        tokens = TokenServer.start(guardedDir, false, USER, PASSWORD);
        guarded = TestRegistry.start(guardedDir, tokens.registryAuthYaml());
        guardedPusher = new TestImagePusher(guarded.host(), repo -> mint(tokens, repo));
        Path anonDir = Files.createDirectories(shared.resolve("anonymous"));
        anonymousTokens = TokenServer.start(anonDir, true, USER, PASSWORD);
        anonymousTokenRegistry = TestRegistry.start(anonDir, anonymousTokens.registryAuthYaml());
    }

    private static String mint(TokenServer server, String repo) {
        try {
            return server.mint(repo, "pull", "push");
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @AfterAll
    static void stopRegistries() throws Exception {
        for (AutoCloseable c : new AutoCloseable[] {open, guarded, tokens, anonymousTokenRegistry, anonymousTokens}) {
            if (c != null) {
                c.close();
            }
        }
    }

    @BeforeEach
    void setUp() {
        cache = new ImageCache(tmp.resolve("cache"), json, Clock.systemUTC());
        cache.open();
        store = new OciImageStore(cache, json);
    }

    @AfterEach
    void tearDown() {
        watchdog.shutdownNow();
    }

    private OciPuller puller(OciRegistrySettings settings) {
        return new OciPuller(new OciRegistryClient(settings, Executors.newVirtualThreadPerTaskExecutor()), store,
                new ResumableDownload(watchdog, Duration.ofSeconds(10), Duration.ofMillis(50)), json,
                Executors.newVirtualThreadPerTaskExecutor(), Clock.systemUTC(), OciPlatform.forArch("x86_64"));
    }

    private OciPuller insecurePuller(String... hosts) {
        return puller(new OciRegistrySettings(Set.of(hosts), Map.of(), Optional.empty(), List.of()));
    }

    private static OciImage await(CompletableFuture<OciImage> pull) throws Exception {
        try {
            return pull.get(PULL_DEADLINE_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception cause ? cause : e;
        }
    }

    private static List<Layer> layers(String marker) throws Exception {
        return List.of(TestImagePusher.gzip(TestImagePusher.tar(t -> {
            TestImagePusher.file(t, "etc/os-release", 0644, "NAME=test\n");
            TestImagePusher.file(t, "bin/tool", 0755, "#!/bin/sh\necho tool\n");
        })), TestImagePusher.zstd(TestImagePusher.tar(t -> TestImagePusher.file(t, "srv/marker", 0644, marker))));
    }

    private void assertNothingLeft() throws Exception {
        assertEquals(List.of(), cache.ociEntries(), "no image was published");
        try (Stream<Path> d = Files.list(cache.root().resolve("downloads"))) {
            assertEquals(List.of(), d.toList(), "no download is left behind");
        }
        try (Stream<Path> b = Files.list(cache.root().resolve("blobs/sha256"))) {
            assertEquals(List.of(), b.toList(), "no blob is left behind");
        }
    }

    @Test
    void pullsGzipAndZstdLayersByTagAndKeepsTheImageConfig() throws Exception {
        byte[] manifest = openPusher.pushImage("team/tool", "1.2", "amd64", List.of("PATH=/bin", "GREETING=hi"),
                "/srv", layers("tag-pull"));
        List<PullProgress> seen = new CopyOnWriteArrayList<>();
        OciImage image = await(insecurePuller(open.host()).pull(open.host() + "/team/tool:1.2", seen::add));

        assertEquals(TestImagePusher.sha256(manifest), image.manifestSha256());
        assertEquals(List.of("PATH=/bin", "GREETING=hi"), image.config().env());
        assertEquals("/srv", image.config().workingDir());
        assertEquals(List.of("/bin/sh"), image.config().defaultCommand());
        assertEquals(2, image.layers().size());
        for (OciDescriptor layer : image.layers()) {
            Path blob = cache.blob(layer.sha256());
            assertEquals(layer.sizeBytes(), Files.size(blob));
        }
        assertTrue(Files.exists(cache.blob(image.manifestSha256())), "the manifest is a blob too");
        assertTrue(seen.stream().anyMatch(p -> p.phase().equals("downloading")), "progress reports downloads");
        try (Stream<Path> d = Files.list(cache.root().resolve("downloads"))) {
            assertEquals(List.of(), d.toList());
        }
        assertEquals(Optional.of(image), store.find(image.manifestSha256()));
    }

    @Test
    void anIndexYieldsTheManifestForThisHostsPlatform() throws Exception {
        byte[] arm = openPusher.pushImage("multi/app", "arm64-only", "arm64", List.of(), "/", layers("arm"));
        byte[] amd = openPusher.pushImage("multi/app", "amd64-only", "amd64", List.of(), "/", layers("amd"));
        openPusher.pushIndex("multi/app", "1", List.of("arm64/v8", "amd64"), List.of(arm, amd));

        OciImage image = await(insecurePuller(open.host()).pull(open.host() + "/multi/app:1", p -> {}));

        assertEquals(TestImagePusher.sha256(amd), image.manifestSha256());
        assertEquals("amd64", image.config().platform().architecture());
    }

    @Test
    void anImageForAnotherPlatformIsRefusedWithNothingLeft() throws Exception {
        byte[] arm = openPusher.pushImage("other/app", "arm", "arm64", List.of(), "/", layers("arm-only"));
        openPusher.pushIndex("other/app", "index", List.of("arm64/v8"), List.of(arm));
        OciPuller puller = insecurePuller(open.host());

        var fromIndex = assertThrows(IncompatibleImageException.class,
                () -> await(puller.pull(open.host() + "/other/app:index", p -> {})));
        assertTrue(fromIndex.getMessage().contains("linux/arm64/v8"), fromIndex.getMessage());
        assertTrue(fromIndex.getMessage().contains("linux/amd64"), fromIndex.getMessage());
        var single = assertThrows(IncompatibleImageException.class,
                () -> await(puller.pull(open.host() + "/other/app:arm", p -> {})));
        assertEquals(ErrorKind.UNSUPPORTED, single.kind());
        assertNothingLeft();
    }

    @Test
    void aLayerWhoseBytesDifferFromItsDigestIsDataLossWithNothingLeft() throws Exception {
        List<Layer> layers = layers("to-be-damaged");
        openPusher.pushImage("damaged/app", "1", "amd64", List.of(), "/", layers);
        Path stored = open.blobData(TestImagePusher.sha256(layers.get(1).bytes()));
        byte[] bytes = Files.readAllBytes(stored);
        bytes[bytes.length / 2] ^= 0x5a; // same length, other bytes: only the digest can tell
        Files.write(stored, bytes);

        var e = assertThrows(ImagePullException.class,
                () -> await(insecurePuller(open.host()).pull(open.host() + "/damaged/app:1", p -> {})));
        assertEquals(Reason.DAMAGED, e.reason());
        assertEquals(ErrorKind.CORRUPT, e.kind());
        assertTrue(e.getMessage().contains(TestImagePusher.sha256(layers.get(1).bytes())), e.getMessage());
        assertNothingLeft();
    }

    @Test
    void aDigestReferenceIsCheckedAndAnUnknownOneIsNotFound() throws Exception {
        byte[] manifest = openPusher.pushImage("pinned/app", "1", "amd64", List.of(), "/", layers("pinned"));
        String digest = "sha256:" + TestImagePusher.sha256(manifest);
        OciPuller puller = insecurePuller(open.host());

        assertEquals(TestImagePusher.sha256(manifest),
                await(puller.pull(open.host() + "/pinned/app@" + digest, p -> {})).manifestSha256());
        var missing = assertThrows(ImagePullException.class, () -> await(puller.pull(open.host() + "/pinned/app@sha256:"
                + "0".repeat(64), p -> {})));
        assertEquals(Reason.NOT_FOUND, missing.reason());
    }

    @Test
    void plainHttpIsSpokenOnlyToRegistriesListedAsInsecure() throws Exception {
        openPusher.pushImage("tls/app", "1", "amd64", List.of(), "/", layers("tls"));
        var e = assertThrows(ImagePullException.class,
                () -> await(puller(OciRegistrySettings.anonymous()).pull(open.host() + "/tls/app:1", p -> {})));
        assertEquals(Reason.UNAVAILABLE, e.reason());
        assertNothingLeft();
    }

    @Test
    void anonymousPullsAnswerTheBearerChallenge() throws Exception {
        TestImagePusher pusher = new TestImagePusher(anonymousTokenRegistry.host(), repo -> mint(anonymousTokens, repo));
        byte[] manifest = pusher.pushImage("public/app", "1", "amd64", List.of(), "/", layers("public"));
        int before = anonymousTokens.issued.get();

        OciImage image = await(insecurePuller(anonymousTokenRegistry.host())
                .pull(anonymousTokenRegistry.host() + "/public/app:1", p -> {}));

        assertEquals(TestImagePusher.sha256(manifest), image.manifestSha256());
        assertTrue(anonymousTokens.issued.get() > before, "the client fetched a token from the challenge's realm");
    }

    @Test
    void aGuardedRegistryNeedsCredentialsFromConfigOrDockerConfigJson() throws Exception {
        byte[] manifest = guardedPusher.pushImage("private/app", "1", "amd64", List.of(), "/", layers("private"));
        String ref = guarded.host() + "/private/app:1";

        var denied = assertThrows(ImagePullException.class, () -> await(insecurePuller(guarded.host()).pull(ref,
                p -> {})));
        assertEquals(Reason.DENIED, denied.reason(), denied.getMessage());
        assertNothingLeft();

        OciPuller configured = puller(new OciRegistrySettings(Set.of(guarded.host()),
                Map.of(guarded.host(), new OciRegistrySettings.Credentials(USER, PASSWORD)), Optional.empty(),
                List.of()));
        assertEquals(TestImagePusher.sha256(manifest), await(configured.pull(ref, p -> {})).manifestSha256());

        store.remove(TestImagePusher.sha256(manifest));
        Path dockerConfig = tmp.resolve("config.json");
        String auth = java.util.Base64.getEncoder().encodeToString((USER + ":" + PASSWORD)
                .getBytes(StandardCharsets.UTF_8));
        Files.writeString(dockerConfig, "{\"auths\":{\"" + guarded.host() + "\":{\"auth\":\"" + auth + "\"}}}");
        OciPuller fromDockerConfig = puller(new OciRegistrySettings(Set.of(guarded.host()), Map.of(),
                Optional.of(dockerConfig), List.of()));
        assertEquals(TestImagePusher.sha256(manifest), await(fromDockerConfig.pull(ref, p -> {})).manifestSha256());
    }

    @Test
    void concurrentPullsShareBlobsAndRemovalKeepsWhatAnotherImageUses() throws Exception {
        Layer base = TestImagePusher.gzip(TestImagePusher.tar(t -> TestImagePusher.file(t, "base", 0644,
                "x".repeat(200_000))));
        Layer a = TestImagePusher.gzip(TestImagePusher.tar(t -> TestImagePusher.file(t, "a", 0644, "a")));
        Layer b = TestImagePusher.gzip(TestImagePusher.tar(t -> TestImagePusher.file(t, "b", 0644, "b")));
        byte[] first = openPusher.pushImage("shared/one", "1", "amd64", List.of(), "/", List.of(base, a));
        byte[] second = openPusher.pushImage("shared/two", "1", "amd64", List.of(), "/", List.of(base, b));
        OciPuller puller = insecurePuller(open.host());

        CompletableFuture<OciImage> one = puller.pull(open.host() + "/shared/one:1", p -> {});
        CompletableFuture<OciImage> two = puller.pull(open.host() + "/shared/two:1", p -> {});
        CompletableFuture<OciImage> oneAgain = puller.pull(open.host() + "/shared/one:1", p -> {});
        assertEquals(await(one), await(oneAgain));
        await(two);

        String baseSha = TestImagePusher.sha256(base.bytes());
        assertTrue(Files.exists(cache.blob(baseSha)));
        store.remove(TestImagePusher.sha256(first));
        assertTrue(Files.exists(cache.blob(baseSha)), "the second image still uses the base layer");
        assertFalse(Files.exists(cache.blob(TestImagePusher.sha256(a.bytes()))), "only the first image used a");
        assertFalse(Files.exists(cache.blob(TestImagePusher.sha256(first))));
        store.remove(TestImagePusher.sha256(second));
        assertNothingLeft();
        assertInstanceOf(KelpieException.class, assertThrows(RuntimeException.class,
                () -> store.remove(TestImagePusher.sha256(second))));
    }

    @Test
    void aTagThatMovedNamesTheImageItWasLastPulledAs() throws Exception {
        byte[] first = openPusher.pushImage("moving/app", "stable", "amd64", List.of("V=1"), "/", layers("v1"));
        OciPuller puller = insecurePuller(open.host());
        String tag = open.host() + "/moving/app:stable";
        await(puller.pull(tag, p -> {}));
        byte[] second = openPusher.pushImage("moving/app", "stable", "amd64", List.of("V=2"), "/", layers("v2"));

        assertEquals(TestImagePusher.sha256(second), await(puller.pull(tag, p -> {})).manifestSha256());
        assertEquals(List.of("V=2"), store.resolve(tag).config().env());
        assertEquals(List.of(), store.find(TestImagePusher.sha256(first)).orElseThrow().references(),
                "the tag left the image it named before");

        openPusher.pushManifest("moving/app", "stable", TestImagePusher.MANIFEST_TYPE, first);
        assertEquals(TestImagePusher.sha256(first), await(puller.pull(tag, p -> {})).manifestSha256(),
                "moving back needs no download, only the entry");
        assertEquals(TestImagePusher.sha256(first), store.resolve(tag).manifestSha256());
        try (Stream<Path> d = Files.list(cache.root().resolve("downloads"))) {
            assertEquals(List.of(), d.toList());
        }
    }

    @Test
    void aPartialLayerDownloadIsResumedFromWhereItBroke() throws Exception {
        Layer big = TestImagePusher.gzip(TestImagePusher.tar(t -> TestImagePusher.file(t, "big", 0644,
                new java.util.Random(7).ints(400_000, 'a', 'z' + 1).collect(StringBuilder::new,
                        StringBuilder::appendCodePoint, StringBuilder::append).toString())));
        openPusher.pushImage("resume/app", "1", "amd64", List.of(), "/", List.of(big));
        String sha = TestImagePusher.sha256(big.bytes());
        int half = big.bytes().length / 2;

        // What a broken transfer left: the first half, right. The pull asks for the rest only.
        Files.write(cache.partialDownload(sha), java.util.Arrays.copyOf(big.bytes(), half));
        await(insecurePuller(open.host()).pull(open.host() + "/resume/app:1", p -> {}));
        assertEquals(big.bytes().length, Files.size(cache.blob(sha)));

        // The same with a first half that is wrong: only resuming from it can produce other bytes, and they are
        // refused and deleted.
        store.remove(store.resolve(open.host() + "/resume/app:1").manifestSha256());
        byte[] wrong = java.util.Arrays.copyOf(big.bytes(), half);
        wrong[10] ^= 1;
        Files.write(cache.partialDownload(sha), wrong);
        var e = assertThrows(ImagePullException.class,
                () -> await(insecurePuller(open.host()).pull(open.host() + "/resume/app:1", p -> {})));
        assertEquals(Reason.DAMAGED, e.reason());
        assertNothingLeft();
    }

    @Test
    void httpsIsCheckedAgainstTheSystemsCasPlusConfiguredOnes() throws Exception {
        byte[] manifest = openPusher.pushImage("tls/served", "1", "amd64", List.of(), "/", layers("over-tls"));
        Path dir = Files.createDirectories(tmp.resolve("tls"));
        Path cert = dir.resolve("registry.pem");
        Path key = dir.resolve("registry.key");
        Process openssl = new ProcessBuilder("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                key.toString(), "-out", cert.toString(), "-subj", "/CN=127.0.0.1", "-days", "1", "-addext",
                "subjectAltName=IP:127.0.0.1").redirectErrorStream(true).redirectOutput(dir.resolve("openssl.log")
                .toFile()).start();
        assertTrue(openssl.waitFor(60, TimeUnit.SECONDS) && openssl.exitValue() == 0,
                Files.readString(dir.resolve("openssl.log")));
        String tlsYaml = "  tls:\n    certificate: " + cert + "\n    key: " + key;
        try (TestRegistry tls = TestRegistry.start(dir, open.storage(), "", tlsYaml)) {
            String ref = tls.host() + "/tls/served:1";
            var untrusted = assertThrows(ImagePullException.class,
                    () -> await(puller(OciRegistrySettings.anonymous()).pull(ref, p -> {})));
            assertEquals(Reason.UNAVAILABLE, untrusted.reason(), untrusted.getMessage());
            assertNothingLeft();

            OciPuller trusting = puller(new OciRegistrySettings(Set.of(), Map.of(), Optional.empty(), List.of(cert)));
            assertEquals(TestImagePusher.sha256(manifest), await(trusting.pull(ref, p -> {})).manifestSha256());
        }
    }
}
