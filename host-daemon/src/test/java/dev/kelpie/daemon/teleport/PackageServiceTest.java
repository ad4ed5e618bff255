package dev.kelpie.daemon.teleport;

import static dev.kelpie.daemon.teleport.PackageFixtures.randomBytes;
import static dev.kelpie.daemon.teleport.StagingAssertions.assertStagingEmpty;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.teleport.pkg.BlobRef;
import dev.kelpie.teleport.pkg.CorruptPackageException;
import dev.kelpie.teleport.pkg.PackageManifest;
import dev.kelpie.teleport.pkg.PackageReader;
import dev.kelpie.teleport.store.LocalPackageStore;
import dev.kelpie.teleport.store.PackageStore;
import dev.kelpie.teleport.store.S3PackageStore;
import dev.kelpie.teleport.testing.S3ProxyServer;
import dev.kelpie.teleport.pkg.BlobNames;
import dev.kelpie.teleport.pkg.BaseImageRef;
import dev.kelpie.teleport.pkg.PlatformRef;
import dev.kelpie.teleport.pkg.SourceSandbox;
import dev.kelpie.teleport.pkg.ManifestCodec;
import dev.kelpie.teleport.pkg.PackageKind;
import dev.kelpie.teleport.pkg.PackageSizeLimitException;
import java.util.Map;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Object;

/** Copies between real stores, a local directory and S3 (s3proxy), through the real archive and its checks. */
class PackageServiceTest {

    private static final AtomicInteger BUCKETS = new AtomicInteger();
    /** Several archive chunks and more than one pipe buffer, so the copy streams rather than fits in one write. */
    private static final int WORKSPACE_BYTES = 3 * 1024 * 1024 + 17;

    @TempDir
    static Path serverDir;
    private static S3ProxyServer server;
    private static S3Client s3;

    @TempDir
    Path state;
    private PackageStore local;
    private PackageStore remote;
    private String bucket;
    private StagingArea staging;
    private PackageService packages;
    private final PackageReader reader = new PackageReader();

    @BeforeAll
    static void startS3() {
        server = S3ProxyServer.start(serverDir);
        s3 = server.client();
    }

    @AfterAll
    static void stopS3() {
        if (server != null) {
            server.close();
        }
    }

    @BeforeEach
    void openStores() throws IOException {
        local = LocalPackageStore.open("local", state.resolve("packages"));
        // A bucket per test: s3proxy keeps the parts of multipart uploads at a bucket's root, outside any prefix.
        bucket = "copy-" + BUCKETS.incrementAndGet();
        server.createBucket(bucket);
        remote = new S3PackageStore("s3", s3, bucket, "kelpie/packages");
        staging = new StagingArea(state.resolve("teleport-staging"));
        packages = new PackageService(PackageStores.of(List.of(local, remote), "local"), staging);
    }

    @Test
    void aCopyToS3ReadsBackByteForByte() throws Exception {
        PackageManifest original = PackageFixtures.publish(local, state, "pkg-1", randomBytes(1, WORKSPACE_BYTES));

        PackageManifest copied = packages.copy("pkg-1", local, remote);

        assertEquals(original, copied);
        assertEquals(List.of("pkg-1"), remote.list());
        assertArrayEquals(reader.readManifest(local, "pkg-1").bytes(), reader.readManifest(remote, "pkg-1").bytes());
        for (BlobRef blob : original.blobs()) {
            assertArrayEquals(readBlob(local, blob), readBlob(remote, blob), blob.name());
        }
        reader.verifyAll(remote, copied);
        assertStagingEmpty(staging);
    }

    @Test
    void aCorruptSourceFailsTheCopyAndTheTargetNeverHoldsAnyOfIt() throws Exception {
        PackageFixtures.publish(local, state, "pkg-1", randomBytes(2, WORKSPACE_BYTES));
        PackageFixtures.flipByteOfWorkspace(state.resolve("packages"), "pkg-1");

        CorruptPackageException e = assertThrows(CorruptPackageException.class,
                () -> packages.copy("pkg-1", local, remote));

        assertTrue(e.getMessage().contains("workspace.tar.zst"), e.getMessage());
        assertEquals(List.of(), remote.list());
        assertEquals(List.of(), keys(), "no blob, manifest or part of one reached the bucket");
        assertEquals(List.of("pkg-1"), local.list(), "the source stays as it was");
        assertStagingEmpty(staging);
    }

    /** An archive whose manifest claims {@code blobs} blobs of 1 TiB each, and then ends: only the claim is there. */
    private static byte[] archiveClaiming(int blobs) throws IOException {
        List<BlobRef> claimed = new java.util.ArrayList<>();
        for (int i = 0; i < blobs; i++) {
            claimed.add(new BlobRef(i == 0 ? BlobNames.WORKSPACE : "blob-" + i, 1L << 40, "a".repeat(64), "zstd", 1L << 40));
        }
        PackageManifest manifest = new PackageManifest(PackageManifest.FORMAT_VERSION, "pkg-huge", PackageKind.CHECKPOINT,
                new BaseImageRef("1.2.3", "x86_64", "a".repeat(64), "b".repeat(64)),
                new PlatformRef("qemu", "7.2.22", "microvm", "max"), 1, new SourceSandbox("sb1", 1, 256, 0, Map.of(),
                        Map.of(), 0, 0, "/workspace", null), Map.of(), claimed);
        byte[] json = new ManifestCodec().write(manifest);
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        try (var tar = new org.apache.commons.compress.archivers.tar.TarArchiveOutputStream(out)) {
            var entry = new org.apache.commons.compress.archivers.tar.TarArchiveEntry(PackageStore.MANIFEST_NAME);
            entry.setSize(json.length);
            tar.putArchiveEntry(entry);
            tar.write(json);
            tar.closeArchiveEntry();
        }
        return out.toByteArray();
    }

    @Test
    void anImportThatClaimsMoreThanTheLimitOrTheFreeSpaceIsRefusedBeforeAnythingIsWritten() throws Exception {
        var limited = new PackageService(PackageStores.of(List.of(local, remote), "local"), staging, 64L << 30);
        PackageSizeLimitException overLimit = assertThrows(PackageSizeLimitException.class,
                () -> limited.importArchive(new java.io.ByteArrayInputStream(archiveClaiming(64)), local));
        assertTrue(overLimit.getMessage().contains("claim 70368744177664 bytes; this daemon takes packages of up to"
                + " 68719476736 bytes"), overLimit.getMessage());

        var unlimited = new PackageService(PackageStores.of(List.of(local, remote), "local"), staging, Long.MAX_VALUE);
        PackageSizeLimitException overDisk = assertThrows(PackageSizeLimitException.class,
                () -> unlimited.importArchive(new java.io.ByteArrayInputStream(archiveClaiming(64)), local));
        assertTrue(overDisk.getMessage().contains("bytes free"), overDisk.getMessage());

        assertEquals(List.of(), local.list(), "nothing published");
        assertStagingEmpty(staging);
    }

    private static byte[] readBlob(PackageStore store, BlobRef blob) throws IOException {
        try (InputStream in = store.openBlob("pkg-1", blob.name())) {
            return in.readAllBytes();
        }
    }

    /** Every key in the test's bucket. */
    private List<String> keys() {
        return s3.listObjectsV2Paginator(r -> r.bucket(bucket)).contents().stream().map(S3Object::key).toList();
    }
}
