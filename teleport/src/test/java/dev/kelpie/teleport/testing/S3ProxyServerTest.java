package dev.kelpie.teleport.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.ResponseBytes;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.CommonPrefix;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.ObjectIdentifier;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;

/** The fixture works, and pins down the S3 behaviours of s3proxy that code built on it relies on. */
class S3ProxyServerTest {

    private static final String BUCKET = "fixture-test";
    private static final int MIB_BYTES = 1024 * 1024;
    /** S3's (and s3proxy's) floor for every multipart part except the last. */
    private static final int MIN_PART_BYTES = 5 * MIB_BYTES;

    @TempDir
    static Path workDir;

    private static S3ProxyServer server;
    private static S3Client s3;

    @BeforeAll
    static void startServer() {
        long startNanos = System.nanoTime();
        server = S3ProxyServer.start(workDir);
        System.out.printf("s3proxy answered on %s after %d ms%n", server.endpoint(),
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos));
        s3 = server.client();
        server.createBucket(BUCKET);
    }

    @AfterAll
    static void stopServer() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void putThenGetReturnsTheSameBytes() {
        byte[] content = randomBytes(1, 4096);
        s3.putObject(b -> b.bucket(BUCKET).key("roundtrip/object"), RequestBody.fromBytes(content));

        ResponseBytes<GetObjectResponse> got = s3.getObjectAsBytes(b -> b.bucket(BUCKET).key("roundtrip/object"));

        assertArrayEquals(content, got.asByteArray());
        assertEquals(content.length, got.response().contentLength());
    }

    @Test
    void openEndedRangeReturnsTheTail() {
        byte[] content = randomBytes(2, 10_000);
        int from = 7_500;
        s3.putObject(b -> b.bucket(BUCKET).key("range/object"), RequestBody.fromBytes(content));

        ResponseBytes<GetObjectResponse> got =
                s3.getObjectAsBytes(b -> b.bucket(BUCKET).key("range/object").range("bytes=" + from + "-"));

        assertArrayEquals(Arrays.copyOfRange(content, from, content.length), got.asByteArray());
        assertEquals(content.length - from, got.response().contentLength());
        // Resuming a download needs the total size, which only Content-Range carries on a partial response.
        assertEquals("bytes " + from + "-" + (content.length - 1) + "/" + content.length, got.response().contentRange());
    }

    @Test
    void headReportsTheLengthWithoutTheBody() {
        byte[] content = randomBytes(3, 12_345);
        s3.putObject(b -> b.bucket(BUCKET).key("head/object"), RequestBody.fromBytes(content));

        HeadObjectResponse head = s3.headObject(b -> b.bucket(BUCKET).key("head/object"));

        assertEquals(content.length, head.contentLength());
        assertFalse(head.eTag() == null || head.eTag().isBlank(), "ETag");
    }

    @Test
    void missingKeyIsNoSuchKey() {
        NoSuchKeyException onGet = assertThrows(NoSuchKeyException.class,
                () -> s3.getObjectAsBytes(b -> b.bucket(BUCKET).key("missing/object")));
        assertEquals(404, onGet.statusCode());

        // A HEAD reply has no body to name the error, yet the SDK still maps its 404 to NoSuchKeyException.
        NoSuchKeyException onHead = assertThrows(NoSuchKeyException.class,
                () -> s3.headObject(b -> b.bucket(BUCKET).key("missing/object")));
        assertEquals(404, onHead.statusCode());
    }

    @Test
    void multipartUploadCompletesAndReadsBackEqual() {
        // Parts at the floor, above it, and a short last part: the floor applies to all parts but the last.
        byte[][] parts = {randomBytes(4, MIN_PART_BYTES), randomBytes(5, MIN_PART_BYTES + 3), randomBytes(6, 777)};
        String key = "multipart/object";

        String uploadId = s3.createMultipartUpload(b -> b.bucket(BUCKET).key(key)).uploadId();
        List<CompletedPart> completed = new ArrayList<>();
        for (int i = 0; i < parts.length; i++) {
            int partNumber = i + 1;
            String eTag = s3.uploadPart(b -> b.bucket(BUCKET).key(key).uploadId(uploadId).partNumber(partNumber),
                    RequestBody.fromBytes(parts[i])).eTag();
            completed.add(CompletedPart.builder().partNumber(partNumber).eTag(eTag).build());
        }
        s3.completeMultipartUpload(b -> b.bucket(BUCKET).key(key).uploadId(uploadId)
                .multipartUpload(m -> m.parts(completed)));

        byte[] expected = concat(parts);
        assertArrayEquals(expected, s3.getObjectAsBytes(b -> b.bucket(BUCKET).key(key)).asByteArray());
        assertEquals(expected.length, s3.headObject(b -> b.bucket(BUCKET).key(key)).contentLength());
    }

    @Test
    void multipartRejectsAnUndersizedPartThatIsNotTheLast() {
        String key = "multipart/too-small";
        String uploadId = s3.createMultipartUpload(b -> b.bucket(BUCKET).key(key)).uploadId();
        List<CompletedPart> completed = new ArrayList<>();
        byte[][] parts = {randomBytes(7, MIN_PART_BYTES - 1), randomBytes(8, 10)};
        for (int i = 0; i < parts.length; i++) {
            int partNumber = i + 1;
            String eTag = s3.uploadPart(b -> b.bucket(BUCKET).key(key).uploadId(uploadId).partNumber(partNumber),
                    RequestBody.fromBytes(parts[i])).eTag();
            completed.add(CompletedPart.builder().partNumber(partNumber).eTag(eTag).build());
        }

        // Like AWS, the size check happens only at completion; every UploadPart above succeeded.
        S3Exception e = assertThrows(S3Exception.class, () -> s3.completeMultipartUpload(b -> b.bucket(BUCKET)
                .key(key).uploadId(uploadId).multipartUpload(m -> m.parts(completed))));
        assertEquals("EntityTooSmall", e.awsErrorDetails().errorCode());
        s3.abortMultipartUpload(b -> b.bucket(BUCKET).key(key).uploadId(uploadId));
    }

    @Test
    void listObjectsV2FiltersByPrefixAndGroupsByDelimiter() {
        for (String key : List.of("list/a/1", "list/a/2", "list/b/1", "listing-decoy", "other/1")) {
            s3.putObject(b -> b.bucket(BUCKET).key(key), RequestBody.fromString(key));
        }

        ListObjectsV2Response underA = s3.listObjectsV2(b -> b.bucket(BUCKET).prefix("list/a/"));
        assertEquals(List.of("list/a/1", "list/a/2"), underA.contents().stream().map(S3Object::key).toList());
        assertEquals(List.of(8L, 8L), underA.contents().stream().map(S3Object::size).toList());

        ListObjectsV2Response grouped = s3.listObjectsV2(b -> b.bucket(BUCKET).prefix("list/").delimiter("/"));
        assertEquals(List.of("list/a/", "list/b/"), grouped.commonPrefixes().stream().map(CommonPrefix::prefix).toList());
        assertTrue(grouped.contents().isEmpty(), () -> "objects directly under list/: " + grouped.contents());
    }

    @Test
    void deleteObjectsRemovesEveryKeyListed() {
        for (String key : List.of("delete/1", "delete/2", "delete/kept")) {
            s3.putObject(b -> b.bucket(BUCKET).key(key), RequestBody.fromString(key));
        }

        s3.deleteObjects(b -> b.bucket(BUCKET).delete(d -> d.objects(
                ObjectIdentifier.builder().key("delete/1").build(), ObjectIdentifier.builder().key("delete/2").build())));

        ListObjectsV2Response left = s3.listObjectsV2(b -> b.bucket(BUCKET).prefix("delete/"));
        assertEquals(List.of("delete/kept"), left.contents().stream().map(S3Object::key).toList());
    }

    @Test
    void sdkDefaultChecksumsAreRejectedSoClientsMustAskForThemOnlyWhenRequired() {
        try (S3Client defaults = S3Client.builder()
                .endpointOverride(server.endpoint())
                .forcePathStyle(true)
                .region(Region.of(server.region()))
                .credentialsProvider(StaticCredentialsProvider.create(
                        AwsBasicCredentials.create(server.accessKeyId(), server.secretAccessKey())))
                .httpClientBuilder(UrlConnectionHttpClient.builder())
                .build()) {
            S3Exception e = assertThrows(S3Exception.class, () -> defaults.putObject(
                    b -> b.bucket(BUCKET).key("checksums/default"), RequestBody.fromString("payload")));
            assertEquals(400, e.statusCode(), e::getMessage);
        }
    }

    @Test
    void closeLeavesNoProcessBehind(@TempDir Path ownDir) {
        S3ProxyServer own = S3ProxyServer.start(ownDir);
        ProcessHandle process = own.processHandle();
        assertNotEquals(server.endpoint(), own.endpoint(), "two servers at once get distinct ports");
        own.createBucket("short-lived");

        own.close();

        assertFalse(process.isAlive(), "s3proxy pid " + process.pid() + " still alive after close()");
        own.close();
        assertThrows(IllegalStateException.class, own::client);
    }

    @Test
    void aProcessThatDiesAtOnceFailsFastWithItsLog(@TempDir Path ownDir) throws IOException {
        Path notAJar = Files.writeString(ownDir.resolve("not-a.jar"), "plain text");

        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> S3ProxyServer.start(ownDir, notAJar));

        assertTrue(e.getMessage().contains("exited with status"), e.getMessage());
        assertTrue(e.getMessage().contains("Invalid or corrupt jarfile"), e.getMessage());
    }

    @Test
    void aMissingJarFailsRatherThanSkips(@TempDir Path ownDir) {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> S3ProxyServer.start(ownDir, ownDir.resolve("absent.jar")));

        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    }

    private static byte[] randomBytes(long seed, int length) {
        byte[] bytes = new byte[length];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    private static byte[] concat(byte[][] parts) {
        byte[] all = new byte[Arrays.stream(parts).mapToInt(p -> p.length).sum()];
        int offset = 0;
        for (byte[] part : parts) {
            System.arraycopy(part, 0, all, offset, part.length);
            offset += part.length;
        }
        return all;
    }
}
