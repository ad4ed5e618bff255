package dev.kelpie.teleport.store;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/** Package directories and package contents for store tests. */
final class TestPackages {

    static final int KIB_BYTES = 1024;
    static final int MIB_BYTES = 1024 * KIB_BYTES;

    private TestPackages() {}

    /** A package as written to disk: its manifest and blobs by name. */
    record TestPackage(Path dir, byte[] manifest, Map<String, byte[]> blobs) {}

    /** A small package of a few blobs, including an empty one; {@code seed} varies every byte. */
    static TestPackage write(Path dir, long seed) throws IOException {
        Map<String, byte[]> blobs = new LinkedHashMap<>();
        blobs.put("memory.zst", randomBytes(seed, 300 * KIB_BYTES + 17));
        blobs.put("disk-0.qcow2", randomBytes(seed + 1, 70 * KIB_BYTES));
        blobs.put("empty", new byte[0]);
        return write(dir, manifestFor(seed), blobs);
    }

    static TestPackage write(Path dir, byte[] manifest, Map<String, byte[]> blobs) throws IOException {
        Files.createDirectories(dir);
        Files.write(dir.resolve(PackageStore.MANIFEST_NAME), manifest);
        if (!blobs.isEmpty()) {
            Path blobsDir = Files.createDirectories(dir.resolve(PackageStore.BLOBS_DIR));
            for (Map.Entry<String, byte[]> blob : blobs.entrySet()) {
                Files.write(blobsDir.resolve(blob.getKey()), blob.getValue());
            }
        }
        return new TestPackage(dir, manifest, Map.copyOf(blobs));
    }

    static byte[] manifestFor(long seed) {
        return ("{\"format\":1,\"seed\":" + seed + "}").getBytes(StandardCharsets.UTF_8);
    }

    static byte[] randomBytes(long seed, int length) {
        byte[] bytes = new byte[length];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    static PackageSource.PackageContent bytes(byte[] bytes) {
        return content(bytes.length, () -> new ByteArrayInputStream(bytes));
    }

    /**
     * Content that promises {@code sizeBytes} pseudo-random bytes but fails with "injected failure" once
     * {@code failAtBytes} are read, like a disk error halfway through a blob; {@code onFailure} runs first, so a test
     * can look at the store while the publish is still in flight.
     */
    static PackageSource.PackageContent failingAfter(long sizeBytes, long failAtBytes, Runnable onFailure) {
        return content(sizeBytes, () -> new InputStream() {
            private final Random random = new Random(failAtBytes);
            private long position;

            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] buffer, int offset, int length) throws IOException {
                if (position >= failAtBytes) {
                    onFailure.run();
                    throw new IOException("injected failure at byte " + position);
                }
                if (position >= sizeBytes) {
                    return -1;
                }
                int n = (int) Math.min(length, Math.min(failAtBytes, sizeBytes) - position);
                byte[] chunk = new byte[n];
                random.nextBytes(chunk);
                System.arraycopy(chunk, 0, buffer, offset, n);
                position += n;
                return n;
            }
        });
    }

    interface StreamOpener {
        InputStream open() throws IOException;
    }

    static PackageSource.PackageContent content(long sizeBytes, StreamOpener opener) {
        return new PackageSource.PackageContent() {
            @Override
            public long sizeBytes() {
                return sizeBytes;
            }

            @Override
            public InputStream open() throws IOException {
                return opener.open();
            }

            @Override
            public String description() {
                return "test content of " + sizeBytes + " bytes";
            }
        };
    }
}
