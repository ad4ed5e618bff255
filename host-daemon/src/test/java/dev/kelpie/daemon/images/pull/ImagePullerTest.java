package dev.kelpie.daemon.images.pull;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.luben.zstd.Zstd;
import dev.kelpie.daemon.images.DamagedImageException;
import dev.kelpie.daemon.images.ImageCompatibility;
import dev.kelpie.daemon.images.ImageInUseException;
import dev.kelpie.daemon.images.ImageNotFoundException;
import dev.kelpie.daemon.images.IncompatibleImageException;
import dev.kelpie.daemon.images.InvalidImageException;
import dev.kelpie.daemon.images.cache.CachedImage;
import dev.kelpie.daemon.images.cache.ImageCache;
import dev.kelpie.daemon.images.pull.FakeGithub.Fault;
import dev.kelpie.daemon.images.pull.ImagePullException.Reason;
import dev.kelpie.daemon.images.trust.MinisignTestSigner;
import dev.kelpie.daemon.images.trust.TrustedKeys;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pulls against a real HTTP server that speaks GitHub's release API, with faults injected: every failure must end
 * in a clear error with the cache unchanged and no temporary file left, and a cut transfer must resume.
 */
class ImagePullerTest {

    private static final String REPO = "kelpie-dev/images";
    private static final String VERSION = "1.2.3";
    private static final String ARCH = "x86_64";
    private static final String ARCHIVE = ReleaseFiles.archive(VERSION, ARCH);
    private static final Duration STALL_TIMEOUT = Duration.ofSeconds(2);
    private static final long PULL_DEADLINE_SECONDS = 60;

    @TempDir
    Path tmp;

    private final ObjectMapper json = new ObjectMapper();
    private final MinisignTestSigner signer = MinisignTestSigner.generate();
    private final ScheduledExecutorService watchdog = Executors.newSingleThreadScheduledExecutor();
    private Path releases;
    private FakeGithub github;
    private ImageCache cache;

    @BeforeEach
    void setUp() throws IOException {
        releases = tmp.resolve("releases");
        new TestReleases(signer).write(releases.resolve(VERSION), VERSION, ARCH);
        github = FakeGithub.start(releases, REPO);
        cache = new ImageCache(tmp.resolve("cache"), json, Clock.systemUTC());
        cache.open();
    }

    @AfterEach
    void tearDown() {
        github.close();
        watchdog.shutdownNow();
    }

    private ImagePuller puller(ReleaseSource... sources) {
        return new ImagePuller(List.of(sources), new TrustedKeys(List.of(signer.publicKey())), cache,
                new ImageCompatibility(), json, Executors.newVirtualThreadPerTaskExecutor(), watchdog,
                STALL_TIMEOUT, Duration.ofMillis(10));
    }

    private GithubReleaseSource github(Optional<String> token) {
        return new GithubReleaseSource("github", github.apiUrl(), REPO, "v", token, true,
                HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).build(), json, Duration.ofSeconds(10));
    }

    private CachedImage pull(ImagePuller puller, List<PullProgress> progress) throws Exception {
        return puller.pull(VERSION, ARCH, "", false, progress::add).get(PULL_DEADLINE_SECONDS, TimeUnit.SECONDS);
    }

    private Throwable pullFailure(ImagePuller puller) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> pull(puller, new ArrayList<>()));
        return e.getCause();
    }

    private ImagePullException pullFailure(ImagePuller puller, Reason reason, String messagePart) {
        ImagePullException e = assertInstanceOf(ImagePullException.class, pullFailure(puller));
        assertEquals(reason, e.reason(), e.getMessage());
        assertTrue(e.getMessage().contains(messagePart), e.getMessage());
        return e;
    }

    private List<String> files(String dir) throws IOException {
        try (Stream<Path> s = Files.walk(cache.root().resolve(dir))) {
            return s.filter(Files::isRegularFile).map(p -> cache.root().relativize(p).toString()).sorted().toList();
        }
    }

    private void assertCacheUntouched(boolean partialKept) throws IOException {
        assertTrue(cache.list().isEmpty());
        assertEquals(List.of(), files("index"));
        assertEquals(List.of(), files("blobs"));
        assertEquals(List.of(), files("staging"));
        assertEquals(partialKept ? 1 : 0, files("downloads").size(), files("downloads").toString());
    }

    @Test
    void pullsVerifiesAndInstallsAReleaseReportingProgress() throws Exception {
        List<PullProgress> progress = new ArrayList<>();
        CachedImage image = pull(puller(github(Optional.of("secret-token"))), progress);

        assertEquals(VERSION, image.version());
        assertEquals("github:" + REPO, image.source());
        assertEquals(Set.of("vmlinux", "rootfs.ext4", "disk-template.ext4", "metadata.json"), image.blobs().keySet());
        assertEquals(image, cache.find(VERSION, ARCH).orElseThrow());
        assertTrue(Files.isRegularFile(image.boot().kernel()));
        assertEquals(4, cache.verify(VERSION, ARCH).filesChecked());
        assertEquals(List.of(), files("downloads"));
        assertEquals(List.of(), files("staging"));
        assertTrue(progress.stream().anyMatch(p -> p.phase().equals("downloading") && p.totalBytes() > 0));
        assertEquals("installing", progress.getLast().phase());
        // the token goes to the API host, never to the storage host it redirects to
        assertTrue(github.requests().stream().filter(r -> r.path().startsWith("/repos/"))
                .allMatch(r -> "Bearer secret-token".equals(r.authorization())));
        assertTrue(github.requests().stream().filter(r -> r.path().startsWith("/storage/"))
                .allMatch(r -> r.authorization() == null));
        // a second pull finds it cached and downloads nothing
        github.clearRequests();
        assertEquals(image.key(), pull(puller(github(Optional.empty())), new ArrayList<>()).key());
        assertEquals(List.of(), github.requests());
    }

    @Test
    void aTransferCutMidwayFailsKeepsOnlyThePartialAndTheNextPullResumesWithARangeRequest() throws Exception {
        long cutAfter = Files.size(releases.resolve(VERSION).resolve(ARCHIVE)) / 2;
        github.fault(ARCHIVE, Fault.cutAfter(cutAfter));
        ImagePuller puller = puller(github(Optional.empty()));

        pullFailure(puller, Reason.UNAVAILABLE, "pulling again resumes it");
        assertCacheUntouched(true);
        // The reset that ends the connection may drop a few bytes still in flight: at most cutAfter arrive.
        long kept = Files.size(cache.root().resolve(files("downloads").getFirst()));
        assertTrue(kept > 0 && kept <= cutAfter, "kept " + kept);

        github.clearFaults();
        github.clearRequests();
        CachedImage image = pull(puller, new ArrayList<>());
        assertEquals(List.of("bytes=" + kept + "-"), github.downloadsOf(ARCHIVE).stream().map(r -> r.range()).toList());
        assertEquals(4, cache.verify(image.version(), image.arch()).filesChecked());
        assertEquals(List.of(), files("downloads"));
    }

    @Test
    void aStalledTransferIsAbandonedAfterTheStallTimeoutAndResumedLater() throws Exception {
        github.fault(ARCHIVE, Fault.stallAfter(100_000));
        ImagePuller puller = puller(github(Optional.empty()));

        pullFailure(puller, Reason.UNAVAILABLE, "stalled: no data for 2 s");
        assertCacheUntouched(true);

        github.clearFaults();
        github.clearRequests();
        pull(puller, new ArrayList<>());
        assertEquals(List.of("bytes=100000-"), github.downloadsOf(ARCHIVE).stream().map(r -> r.range()).toList());
    }

    @Test
    void bytesThatDoNotMatchTheSignedChecksumAreDeleted() throws Exception {
        github.fault(ARCHIVE, Fault.corruptLastByte());
        pullFailure(puller(github(Optional.empty())), Reason.DAMAGED, "but the signed SHA256SUMS says");
        assertCacheUntouched(false);
    }

    @Test
    void aSignatureByAnUntrustedKeyIsRejectedBeforeAnythingIsDownloaded() throws Exception {
        Path sums = releases.resolve(VERSION).resolve(ReleaseFiles.CHECKSUMS);
        Files.writeString(releases.resolve(VERSION).resolve(ReleaseFiles.SIGNATURE),
                MinisignTestSigner.generate().sign(Files.readAllBytes(sums), "someone else"));
        pullFailure(puller(github(Optional.empty())), Reason.UNTRUSTED, "SHA256SUMS is not trusted");
        assertCacheUntouched(false);
        assertEquals(List.of(), github.downloadsOf(ARCHIVE));
    }

    @Test
    void alteredChecksumsFailTheSignature() throws Exception {
        Path sums = releases.resolve(VERSION).resolve(ReleaseFiles.CHECKSUMS);
        String text = Files.readString(sums);
        Files.writeString(sums, (text.charAt(0) == '0' ? "1" : "0") + text.substring(1));
        pullFailure(puller(github(Optional.empty())), Reason.UNTRUSTED, "not trusted");
        assertCacheUntouched(false);
    }

    @Test
    void aMissingSignatureIsRejectedUnlessTheSourceAllowsUnsignedReleases() throws Exception {
        Files.delete(releases.resolve(VERSION).resolve(ReleaseFiles.SIGNATURE));
        pullFailure(puller(github(Optional.empty())), Reason.UNTRUSTED, "has no SHA256SUMS.minisig");
        assertCacheUntouched(false);

        ReleaseSource unsigned = new LocalReleaseSource("local", releases, false);
        assertEquals("local:" + releases, pull(puller(unsigned), new ArrayList<>()).source());
    }

    @Test
    void httpFailuresSayWhatHappened() throws Exception {
        github.fault("release", Fault.status(500, Map.of()));
        pullFailure(puller(github(Optional.empty())), Reason.UNAVAILABLE, "answered HTTP 500");

        github.fault("release", Fault.status(403, Map.of("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1800000000")));
        pullFailure(puller(github(Optional.empty())), Reason.RATE_LIMITED, "configure a token");

        github.fault("release", Fault.status(401, Map.of()));
        pullFailure(puller(github(Optional.empty())), Reason.DENIED, "a token may be needed");

        github.clearFaults();
        github.padReleaseListings(GithubReleaseSource.MAX_RELEASE_JSON_BYTES);
        pullFailure(puller(github(Optional.empty())), Reason.UNAVAILABLE, "is larger than 4194304 bytes");
        github.padReleaseListings(0);

        github.fault(ARCHIVE, Fault.status(500, Map.of()));
        pullFailure(puller(github(Optional.empty())), Reason.UNAVAILABLE, "answered HTTP 500 for " + ARCHIVE);
        assertCacheUntouched(false);

        github.fault(ARCHIVE, Fault.status(404, Map.of()));
        var gone = assertInstanceOf(ImageNotFoundException.class, pullFailure(puller(github(Optional.empty()))));
        assertTrue(gone.getMessage().contains("answered HTTP 404 for " + ARCHIVE), gone.getMessage());
        assertCacheUntouched(false);
    }

    @Test
    void aLocalSourceMayBeTheArchiveItselfWithItsChecksumsBeside() throws Exception {
        Path archive = releases.resolve(VERSION).resolve(ARCHIVE);
        CachedImage image = pull(puller(new LocalReleaseSource("build", archive, true)), new ArrayList<>());
        assertEquals("local:" + archive, image.source());
    }

    @Test
    void aVersionNoSourceHasIsNotFoundNamingTheSourcesTried() {
        ImagePuller puller = puller(github(Optional.empty()), new LocalReleaseSource("local", tmp.resolve("none"), true));
        var e = assertThrows(ExecutionException.class, () -> puller.pull("9.9.9", ARCH, "", false, p -> {})
                .get(PULL_DEADLINE_SECONDS, TimeUnit.SECONDS));
        ImageNotFoundException notFound = assertInstanceOf(ImageNotFoundException.class, e.getCause());
        assertTrue(notFound.getMessage().contains("github:" + REPO), notFound.getMessage());
        assertTrue(notFound.getMessage().contains("local:" + tmp.resolve("none")), notFound.getMessage());
    }

    @Test
    void aFailingSourceFallsBackToTheNextOne() throws Exception {
        github.fault("release", Fault.status(503, Map.of()));
        ReleaseSource local = new LocalReleaseSource("local", releases, true);
        assertEquals("local:" + releases, pull(puller(github(Optional.empty()), local), new ArrayList<>()).source());
    }

    @Test
    void twoPullsOfOneVersionShareOneDownload() throws Exception {
        github.fault(ARCHIVE, Fault.stallAfter(10_000));
        ImagePuller puller = puller(github(Optional.empty()));
        CompletableFuture<CachedImage> first = puller.pull(VERSION, ARCH, "", false, p -> {});
        CompletableFuture<CachedImage> second = puller.pull(VERSION, ARCH, "", false, p -> {});
        assertSame(first, second);
        assertThrows(ExecutionException.class, () -> second.get(PULL_DEADLINE_SECONDS, TimeUnit.SECONDS));
        assertEquals(1, github.downloadsOf(ARCHIVE).size());
    }

    @Test
    void anImageWithAnAgentProtocolTheDaemonDoesNotSpeakIsRefusedAndNotCached() throws Exception {
        new TestReleases(signer).agentProtocol(7).write(releases.resolve(VERSION), VERSION, ARCH);
        var e = assertInstanceOf(IncompatibleImageException.class, pullFailure(puller(github(Optional.empty()))));
        assertTrue(e.getMessage().contains("agent protocol 7"), e.getMessage());
        assertCacheUntouched(false);
    }

    @Test
    void anArchiveWithAPathOutsideTheImageIsRefused() throws Exception {
        Path archive = releases.resolve(VERSION).resolve(ARCHIVE);
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("../escape", new byte[] {1});
        TestReleases.writeTarZst(archive, files);
        new TestReleases(signer).publish(archive, VERSION, ARCH);
        var e = assertInstanceOf(DamagedImageException.class, pullFailure(puller(github(Optional.empty()))));
        assertTrue(e.getMessage().contains("not a plain file at the top level"), e.getMessage());
        assertCacheUntouched(false);
        assertFalse(Files.exists(cache.root().resolve("staging").resolve("escape")));
    }

    @Test
    void aSignedArchiveWhoseTarIsCutIsDamagedNotUnavailable() throws Exception {
        Path archive = releases.resolve(VERSION).resolve(ARCHIVE);
        var tar = new ByteArrayOutputStream();
        try (var out = new TarArchiveOutputStream(tar)) {
            var entry = new TarArchiveEntry("rootfs.ext4");
            entry.setSize(4096);
            out.putArchiveEntry(entry);
            out.write(new byte[4096]);
            out.closeArchiveEntry();
        }
        Files.write(archive, Zstd.compress(Arrays.copyOf(tar.toByteArray(), 1000), 3));
        new TestReleases(signer).publish(archive, VERSION, ARCH);
        var e = assertInstanceOf(DamagedImageException.class, pullFailure(puller(github(Optional.empty()))));
        assertTrue(e.getMessage().contains("is not a valid tar.zst"), e.getMessage());
        assertCacheUntouched(false);
    }

    @Test
    void aSignedArchiveWhoseMetadataIsNotJsonIsInvalidNotUnavailable() throws Exception {
        Path archive = releases.resolve(VERSION).resolve(ARCHIVE);
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("metadata.json", "not json".getBytes(StandardCharsets.UTF_8));
        TestReleases.writeTarZst(archive, files);
        new TestReleases(signer).publish(archive, VERSION, ARCH);
        var e = assertInstanceOf(InvalidImageException.class, pullFailure(puller(github(Optional.empty()))));
        assertTrue(e.getMessage().contains("metadata.json is not valid JSON"), e.getMessage());
        assertCacheUntouched(false);
    }

    @Test
    void removeRefusesAnImageInUseAndFreesItsBlobsOtherwise() throws Exception {
        CachedImage image = pull(puller(github(Optional.empty())), new ArrayList<>());
        assertThrows(ImageInUseException.class, () -> cache.remove(VERSION, ARCH, Set.of(image.key())));
        assertTrue(cache.find(VERSION, ARCH).isPresent());
        assertTrue(cache.remove(VERSION, ARCH, Set.of()) > 2_000_000);
        assertEquals(List.of(), files("blobs"));
        assertTrue(cache.find(VERSION, ARCH).isEmpty());
    }

    @Test
    void verifyFindsAFlippedBitThatLoadingCannotSee() throws Exception {
        CachedImage image = pull(puller(github(Optional.empty())), new ArrayList<>());
        Path rootfs = image.blobs().get("rootfs.ext4");
        rootfs.toFile().setWritable(true);
        try (RandomAccessFile f = new RandomAccessFile(rootfs.toFile(), "rw")) {
            f.seek(1000);
            int b = f.read();
            f.seek(1000);
            f.write(b ^ 0x10);
        }
        assertTrue(cache.find(VERSION, ARCH).isPresent()); // sizes still match
        var e = assertThrows(DamagedImageException.class, () -> cache.verify(VERSION, ARCH));
        assertTrue(e.getMessage().contains("rootfs.ext4"), e.getMessage());
    }

    @Test
    void pruneKeepsTheNewestVersionsAndAnyInUse() throws Exception {
        for (String v : List.of("1.0.0", "1.1.0", "1.2.0")) {
            new TestReleases(signer).rootfsBytes(4096).write(releases.resolve(v), v, ARCH);
        }
        ImagePuller puller = puller(github(Optional.empty()));
        for (String v : List.of("1.0.0", "1.1.0", "1.2.0")) {
            puller.pull(v, ARCH, "", false, p -> {}).get(PULL_DEADLINE_SECONDS, TimeUnit.SECONDS);
        }
        var pruned = cache.prune(1, Set.of("1.0.0/x86_64"));
        assertEquals(List.of("1.1.0/x86_64"), pruned.removed());
        assertTrue(pruned.freedBytes() > 4096, "the removed version's own blobs: " + pruned.freedBytes());
        assertEquals(List.of("1.2.0", "1.0.0"), cache.list().stream().map(CachedImage::version).toList());
    }
}
