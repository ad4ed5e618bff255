package dev.kelpie.daemon.images.pull;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.images.ImageCompatibility;
import dev.kelpie.daemon.images.ImageNotFoundException;
import dev.kelpie.daemon.images.cache.CachedImage;
import dev.kelpie.daemon.images.cache.ImageCache;
import dev.kelpie.daemon.images.pull.ImagePullException.Reason;
import dev.kelpie.daemon.images.trust.MinisignTestSigner;
import dev.kelpie.daemon.images.trust.TrustedKeys;
import dev.kelpie.teleport.store.S3Clients;
import dev.kelpie.teleport.testing.S3ProxyServer;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;

/** Pulls from a bucket on s3proxy, a real S3 API server, through the client settings S3-compatible servers need. */
class S3ReleaseSourceTest {

    private static final String BUCKET = "kelpie-images";
    private static final String PREFIX = "releases/stable";
    private static final String VERSION = "2.0.1";
    private static final String ARCH = "x86_64";
    private static final long PULL_DEADLINE_SECONDS = 60;

    @TempDir
    static Path tmp;
    static S3ProxyServer server;
    static S3Client s3;
    static final MinisignTestSigner SIGNER = MinisignTestSigner.generate();
    static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor();

    @BeforeAll
    static void publishARelease() throws Exception {
        server = S3ProxyServer.start(tmp.resolve("s3proxy"));
        server.createBucket(BUCKET);
        Path release = new TestReleases(SIGNER).write(tmp.resolve("release"), VERSION, ARCH);
        // the daemon's own client factory, as a user's configuration would build it
        s3 = S3Clients.create(Optional.of(server.endpoint()), server.region(), true, Optional.of(server.accessKeyId()),
                Optional.of(server.secretAccessKey()), Duration.ofSeconds(30));
        try (Stream<Path> files = Files.list(release)) {
            for (Path f : files.toList()) {
                s3.putObject(PutObjectRequest.builder().bucket(BUCKET).key(PREFIX + "/" + VERSION + "/" + f.getFileName())
                        .build(), RequestBody.fromFile(f));
            }
        }
    }

    @AfterAll
    static void stop() {
        WATCHDOG.shutdownNow();
        if (s3 != null) {
            s3.close();
        }
        if (server != null) {
            server.close();
        }
    }

    private static ImagePuller puller(Path cacheDir, ReleaseSource source) {
        ImageCache cache = new ImageCache(cacheDir, new ObjectMapper(), Clock.systemUTC());
        cache.open();
        return new ImagePuller(List.of(source), new TrustedKeys(List.of(SIGNER.publicKey())), cache,
                new ImageCompatibility(), new ObjectMapper(), Executors.newVirtualThreadPerTaskExecutor(), WATCHDOG,
                Duration.ofSeconds(30), Duration.ofMillis(50));
    }

    @Test
    void pullsAVerifiedReleaseFromTheBucket() throws Exception {
        S3ReleaseSource source = new S3ReleaseSource("s3", s3, BUCKET, PREFIX, true);
        CachedImage image = puller(tmp.resolve("cache-ok"), source).pull(VERSION, ARCH, "", false, p -> {})
                .get(PULL_DEADLINE_SECONDS, TimeUnit.SECONDS);
        assertEquals("s3://" + BUCKET + "/" + PREFIX + "/", image.source());
        assertEquals(VERSION, image.version());
    }

    @Test
    void readsFromAnOffsetSoAnInterruptedDownloadResumes() throws Exception {
        Release release = new S3ReleaseSource("s3", s3, BUCKET, PREFIX, true).find(VERSION, ARCH).orElseThrow();
        String archive = ReleaseFiles.archive(VERSION, ARCH);
        byte[] whole = Files.readAllBytes(tmp.resolve("release").resolve(archive));
        assertEquals(whole.length, release.size(archive).orElseThrow());
        try (InputStream tail = release.open(archive, 1000)) {
            assertEquals(whole.length - 1000, tail.readAllBytes().length);
        }
    }

    @Test
    void aVersionTheBucketLacksIsNotFoundAndAMissingBucketIsUnavailable() {
        var missing = assertThrows(ExecutionException.class, () -> puller(tmp.resolve("cache-missing"),
                new S3ReleaseSource("s3", s3, BUCKET, PREFIX, true)).pull("9.9.9", ARCH, "", false, p -> {})
                .get(PULL_DEADLINE_SECONDS, TimeUnit.SECONDS));
        assertInstanceOf(ImageNotFoundException.class, missing.getCause());

        var noBucket = assertThrows(ExecutionException.class, () -> puller(tmp.resolve("cache-nobucket"),
                new S3ReleaseSource("s3", s3, "no-such-bucket", PREFIX, true)).pull(VERSION, ARCH, "", false, p -> {})
                .get(PULL_DEADLINE_SECONDS, TimeUnit.SECONDS));
        ImagePullException e = assertInstanceOf(ImagePullException.class, noBucket.getCause());
        assertEquals(Reason.UNAVAILABLE, e.reason());
        assertTrue(e.getMessage().contains("no-such-bucket"), e.getMessage());
    }

    @Test
    void wrongCredentialsAreDenied() {
        S3Client wrong = S3Clients.create(Optional.of(server.endpoint()), server.region(), true,
                Optional.of(server.accessKeyId()), Optional.of("not-the-secret"), Duration.ofSeconds(30));
        try (wrong) {
            var e = assertThrows(ImagePullException.class,
                    () -> new S3ReleaseSource("s3", wrong, BUCKET, PREFIX, true).find(VERSION, ARCH));
            assertEquals(Reason.DENIED, e.reason(), e.getMessage());
        }
    }
}
