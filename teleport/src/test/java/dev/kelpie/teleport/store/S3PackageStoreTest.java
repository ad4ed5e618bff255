package dev.kelpie.teleport.store;

import static dev.kelpie.teleport.store.TestPackages.MIB_BYTES;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.teleport.store.TestPackages.TestPackage;
import dev.kelpie.teleport.testing.S3ProxyServer;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Object;

/** The contract against s3proxy, a real S3 API server, plus what only S3 has: keys, multipart, conditional PUTs. */
class S3PackageStoreTest extends PackageStoreContract {

    private static final String PREFIX = "kelpie/packages";
    private static final Duration SOCKET_TIMEOUT = Duration.ofSeconds(60);
    /** Generous: two cores shared with other builds. */
    private static final long RACE_DEADLINE_SECONDS = 120;
    private static final int RACE_ROUNDS = 5;
    private static final int RACERS = 4;
    /** Parts at S3's minimum, so a blob of a few MiB is sent in several. */
    private static final long SMALL_PART_SIZE_BYTES = S3PackageStore.MIN_PART_SIZE_BYTES;
    private static final int MULTIPART_BLOB_BYTES = 11 * MIB_BYTES + 12_345;

    @TempDir
    static Path serverDir;
    private static S3ProxyServer server;
    private static S3Client s3;
    /** Nothing listens on the discard port: its requests fail with a connection error, never a bad argument. */
    private static S3Client nowhere;
    private static final AtomicInteger BUCKETS = new AtomicInteger();

    private String bucket;

    @BeforeAll
    static void startServer() {
        server = S3ProxyServer.start(serverDir);
        // The daemon's own client factory, configured as a user's store would be.
        s3 = S3Clients.create(Optional.of(server.endpoint()), server.region(), true,
                Optional.of(server.accessKeyId()), Optional.of(server.secretAccessKey()), SOCKET_TIMEOUT);
        nowhere = S3Clients.create(Optional.of(URI.create("http://127.0.0.1:9")), server.region(), true,
                Optional.of("nobody"), Optional.of("nothing"), SOCKET_TIMEOUT);
    }

    @AfterAll
    static void stopServer() {
        if (s3 != null) {
            s3.close();
        }
        if (nowhere != null) {
            nowhere.close();
        }
        if (server != null) {
            server.close();
        }
    }

    /** A bucket per test: s3proxy keeps in-flight multipart parts at the bucket's root, outside any prefix. */
    @Override
    PackageStore newStore(Path workDir) {
        bucket = "store-" + BUCKETS.incrementAndGet();
        server.createBucket(bucket);
        return new S3PackageStore("s3", s3, bucket, PREFIX);
    }

    @Override
    PackageStore storeThatCannotDoIo(Path workDir) {
        return new S3PackageStore("unreachable", nowhere, "unreachable", PREFIX);
    }

    /** Every key in the test's bucket, which includes any parts of multipart uploads still in flight. */
    @Override
    List<String> storedEntries() {
        return keys(bucket);
    }

    @Override
    void publish(String id, PackageSource source) throws IOException {
        ((S3PackageStore) store).publish(id, source);
    }

    @Test
    void blobsGoFirstUnderThePrefixAndTheManifestBeside() throws IOException {
        store.publish(ID, TestPackages.write(tmp.resolve("in"), 40).dir());

        String base = PREFIX + "/" + ID + "/";
        assertEquals(List.of(base + "blobs/disk-0.qcow2", base + "blobs/empty", base + "blobs/memory.zst",
                base + "manifest.json"), storedEntries());
        assertEquals("s3://" + bucket + "/" + PREFIX + "/", store.location());
    }

    @Test
    void onlyManifestsDirectlyUnderThePrefixArePackages() throws IOException {
        store.publish(ID, TestPackages.write(tmp.resolve("in"), 41).dir());
        for (String key : List.of("elsewhere/pkg-2/manifest.json", PREFIX + "/pkg-3/blobs/x/manifest.json",
                PREFIX + "/Not-An-Id/manifest.json", PREFIX + "/pkg-4/blobs/orphan",
                PREFIX + "-sibling/pkg-5/manifest.json")) {
            s3.putObject(b -> b.bucket(bucket).key(key), RequestBody.fromString("{}"));
        }

        assertEquals(List.of(ID), store.list());
    }

    @Test
    void listingFollowsPages() throws IOException {
        // s3proxy, like S3, returns at most 1000 keys a page; 3 packages of 400 objects each need two pages.
        for (int p = 0; p < 3; p++) {
            Path dir = tmp.resolve("in-" + p);
            Map<String, byte[]> blobs = new HashMap<>();
            for (int i = 0; i < 400; i++) {
                blobs.put("b" + i, new byte[] {(byte) i});
            }
            store.publish("pkg-" + p, TestPackages.write(dir, TestPackages.manifestFor(p), blobs).dir());
        }

        assertEquals(List.of("pkg-0", "pkg-1", "pkg-2"), store.list().stream().sorted().toList());
        assertTrue(store.delete("pkg-1"));
        assertEquals(2 * 401, storedEntries().size());
    }

    @Test
    void aLargeBlobGoesUpInPartsAndArrivesByteEqual() throws IOException {
        S3PackageStore partsStore = new S3PackageStore("s3-parts", s3, bucket, PREFIX, SMALL_PART_SIZE_BYTES,
                SMALL_PART_SIZE_BYTES);
        byte[] large = TestPackages.randomBytes(42, MULTIPART_BLOB_BYTES);
        List<Integer> uploadsWhileSending = new ArrayList<>();
        PackageSource source = new PackageSource(TestPackages.bytes(TestPackages.manifestFor(42)), List.of(
                new PackageSource.NamedContent("memory.zst", observedAfter(large, 10 * MIB_BYTES,
                        () -> uploadsWhileSending.add(multipartUploadsInFlight())))));

        partsStore.publish(ID, source);

        assertEquals(List.of(1), uploadsWhileSending, "one multipart upload was open while the third part was read");
        try (InputStream in = partsStore.openBlob(ID, "memory.zst")) {
            assertArrayEquals(large, in.readAllBytes());
        }
        assertEquals(0, multipartUploadsInFlight());
        assertEquals(List.of(PREFIX + "/" + ID + "/blobs/memory.zst", PREFIX + "/" + ID + "/manifest.json"),
                storedEntries(), "no part left behind");
    }

    @Test
    void aFailedMultipartUploadIsAborted() {
        S3PackageStore partsStore = new S3PackageStore("s3-parts", s3, bucket, PREFIX, SMALL_PART_SIZE_BYTES,
                SMALL_PART_SIZE_BYTES);
        List<Integer> uploadsAtFailure = new ArrayList<>();
        PackageSource source = new PackageSource(TestPackages.bytes(TestPackages.manifestFor(43)), List.of(
                new PackageSource.NamedContent("a-small", TestPackages.bytes(new byte[1000])),
                new PackageSource.NamedContent("b-large", TestPackages.failingAfter(MULTIPART_BLOB_BYTES,
                        7 * MIB_BYTES, () -> uploadsAtFailure.add(multipartUploadsInFlight())))));

        IOException e = assertThrows(IOException.class, () -> partsStore.publish(ID, source));

        assertEquals(List.of(1), uploadsAtFailure, "the failure came while a multipart upload was open");
        assertEquals(0, multipartUploadsInFlight(), "aborted");
        assertEquals(List.of(), storedEntries());
        assertTrue(e.getMessage().contains("removed"), e.getMessage());
    }

    @Test
    void aManifestThatAppearsDuringThePublishWinsAndIsKept() throws IOException {
        byte[] theirs = "{\"publisher\":\"another process\"}".getBytes(StandardCharsets.UTF_8);
        String manifestKey = PREFIX + "/" + ID + "/manifest.json";
        // Another process publishes between this publish's existence check and its manifest PUT.
        PackageSource source = new PackageSource(TestPackages.bytes(TestPackages.manifestFor(44)), List.of(
                new PackageSource.NamedContent("memory.zst", TestPackages.content(3, () -> {
                    putIfAbsent(manifestKey, theirs);
                    return new ByteArrayInputStream(new byte[3]);
                }))));

        assertThrows(PackageExistsException.class, () -> publish(ID, source));

        assertArrayEquals(theirs, store.readManifest(ID, MANIFEST_CAP_BYTES).orElseThrow());
    }

    @Test
    void aConditionalPutRefusedBecauseItsOwnManifestLandedIsASuccess() throws IOException {
        byte[] ours = TestPackages.manifestFor(45);
        String manifestKey = PREFIX + "/" + ID + "/manifest.json";
        // As if a first attempt of the manifest PUT landed but its answer was lost: the retry is refused with 412.
        PackageSource source = new PackageSource(TestPackages.bytes(ours), List.of(
                new PackageSource.NamedContent("memory.zst", TestPackages.content(3, () -> {
                    putIfAbsent(manifestKey, ours);
                    return new ByteArrayInputStream(new byte[3]);
                }))));

        publish(ID, source);

        assertArrayEquals(ours, store.readManifest(ID, MANIFEST_CAP_BYTES).orElseThrow());
    }

    @Test
    void racingPublishesOfOneIdHaveExactlyOneWinner() throws Exception {
        // Within one store the race is settled before any upload. (Across processes only the conditional manifest PUT
        // can settle it, and s3proxy checks its condition apart from the write, so two racers can both succeed there;
        // the 412 handling is covered deterministically above.)
        Map<String, byte[]> sameBlobs = Map.of("memory.zst", TestPackages.randomBytes(46, 300_000));
        try (ExecutorService racers = Executors.newFixedThreadPool(RACERS)) {
            for (int round = 0; round < RACE_ROUNDS; round++) {
                String id = "race-" + round;
                List<TestPackage> packages = new ArrayList<>();
                for (int i = 0; i < RACERS; i++) {
                    byte[] manifest = TestPackages.manifestFor(100 * round + i);
                    packages.add(TestPackages.write(tmp.resolve(id + "-" + i), manifest, sameBlobs));
                }
                CountDownLatch start = new CountDownLatch(1);
                List<Future<?>> results = new ArrayList<>();
                for (TestPackage pkg : packages) {
                    results.add(racers.submit(() -> {
                        start.await();
                        store.publish(id, pkg.dir());
                        return null;
                    }));
                }
                start.countDown();
                List<byte[]> winners = new ArrayList<>();
                for (int i = 0; i < RACERS; i++) {
                    try {
                        results.get(i).get(RACE_DEADLINE_SECONDS, TimeUnit.SECONDS);
                        winners.add(packages.get(i).manifest());
                    } catch (ExecutionException e) {
                        assertInstanceOf(PackageExistsException.class, e.getCause());
                    }
                }
                assertEquals(1, winners.size(), "winners in round " + round);
                assertArrayEquals(winners.getFirst(), store.readManifest(id, MANIFEST_CAP_BYTES).orElseThrow());
            }
        }
    }

    @Test
    void aMissingBucketIsAnIoErrorNamingBucketKeyAndCode() {
        S3PackageStore wrongBucket = new S3PackageStore("s3", s3, "no-such-bucket", PREFIX);

        IOException onList = assertThrows(IOException.class, wrongBucket::list);
        assertTrue(onList.getMessage().contains("s3://no-such-bucket/" + PREFIX + "/"), onList.getMessage());
        assertTrue(onList.getMessage().contains("NoSuchBucket"), onList.getMessage());

        IOException onPublish = assertThrows(IOException.class,
                () -> wrongBucket.publish(ID, TestPackages.write(tmp.resolve("in"), 47).dir()));
        assertTrue(onPublish.getMessage().contains("s3://no-such-bucket/" + PREFIX + "/" + ID + "/"),
                onPublish.getMessage());
        assertTrue(onPublish.getMessage().contains("NoSuchBucket"), onPublish.getMessage());

        // Not "no such package": a store pointed at the wrong bucket must not look merely empty.
        IOException onDelete = assertThrows(IOException.class, () -> wrongBucket.delete(ID));
        assertTrue(onDelete.getMessage().contains("NoSuchBucket"), onDelete.getMessage());
    }

    @Test
    void wrongCredentialsAreAnIoErrorWithTheServersCode() throws IOException {
        store.publish(ID, TestPackages.write(tmp.resolve("in"), 48).dir());
        try (S3Client wrong = S3Clients.create(Optional.of(server.endpoint()), server.region(), true,
                Optional.of(server.accessKeyId()), Optional.of("not-the-secret"), SOCKET_TIMEOUT)) {
            S3PackageStore denied = new S3PackageStore("s3", wrong, bucket, PREFIX);

            IOException e = assertThrows(IOException.class, () -> denied.openBlob(ID, "memory.zst"));

            String key = "s3://" + bucket + "/" + PREFIX + "/" + ID + "/blobs/memory.zst";
            assertTrue(e.getMessage().startsWith("GET " + key + " failed: "), e.getMessage());
            assertTrue(e.getMessage().contains("(HTTP 403)"), e.getMessage());
        }
    }

    @Test
    void partSizesBelowTheS3MinimumAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new S3PackageStore("s3", s3, bucket, PREFIX,
                S3PackageStore.MIN_PART_SIZE_BYTES - 1, S3PackageStore.DEFAULT_MULTIPART_THRESHOLD_BYTES));
        assertThrows(IllegalArgumentException.class, () -> new S3PackageStore("s3", s3, bucket, "/leading-slash"));
    }

    private int multipartUploadsInFlight() {
        return s3.listMultipartUploads(b -> b.bucket(bucket)).uploads().size();
    }

    private void putIfAbsent(String key, byte[] bytes) {
        if (keys(bucket).contains(key)) {
            return;
        }
        s3.putObject(b -> b.bucket(bucket).key(key), RequestBody.fromBytes(bytes));
    }

    private static List<String> keys(String bucket) {
        List<String> keys = new ArrayList<>();
        for (S3Object object : s3.listObjectsV2Paginator(b -> b.bucket(bucket)).contents()) {
            keys.add(object.key());
        }
        return keys;
    }

    /** The bytes of {@code data}, running {@code observer} once the stream is past {@code afterBytes}. */
    private static PackageSource.PackageContent observedAfter(byte[] data, int afterBytes, Runnable observer) {
        return TestPackages.content(data.length, () -> new InputStream() {
            private int position;
            private boolean observed;

            @Override
            public int read() {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] buffer, int offset, int length) {
                if (position >= afterBytes && !observed) {
                    observed = true;
                    observer.run();
                }
                if (position >= data.length) {
                    return -1;
                }
                int n = Math.min(length, data.length - position);
                System.arraycopy(data, position, buffer, offset, n);
                position += n;
                return n;
            }
        });
    }
}
