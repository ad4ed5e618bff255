package dev.kelpie.teleport.pkg;

import com.github.luben.zstd.ZstdOutputStreamNoFinalizer;
import dev.kelpie.teleport.store.FileTrees;
import dev.kelpie.teleport.store.PackageIds;
import dev.kelpie.teleport.store.PackageStore;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Assembles a package in a staging directory: blobs are compressed and hashed as they are written, the manifest comes
 * last. A store then publishes the directory; {@link #close()} removes it whatever happened, so a failed snapshot
 * leaves no file.
 */
public final class PackageWriter implements AutoCloseable {

    /** zstd level 3: near the best ratio per CPU second for memory images and tars, far faster than level 19. */
    static final int ZSTD_LEVEL = 3;
    private static final int COPY_BUFFER_BYTES = 256 * 1024;

    private final Path dir;
    private final List<BlobRef> blobs = new ArrayList<>();
    private final ManifestCodec codec = new ManifestCodec();

    private PackageWriter(Path dir) {
        this.dir = dir;
    }

    /** Creates {@code dir} (which must not exist) with its blobs directory. */
    public static PackageWriter create(Path dir) throws IOException {
        Files.createDirectories(dir.getParent());
        Files.createDirectory(dir);
        Files.createDirectory(dir.resolve(PackageStore.BLOBS_DIR));
        return new PackageWriter(dir);
    }

    public Path directory() {
        return dir;
    }

    /** Compresses {@code content} (read to its end, not closed) into blob {@code name}. */
    public BlobRef addCompressed(String name, InputStream content) throws IOException {
        PackageIds.checkBlobName(name);
        MessageDigest sha256 = sha256();
        Path file = dir.resolve(PackageStore.BLOBS_DIR).resolve(name);
        long uncompressed = 0;
        try (CountingOutputStream stored = new CountingOutputStream(
                new DigestOutputStream(Files.newOutputStream(file), sha256));
                ZstdOutputStreamNoFinalizer zstd = new ZstdOutputStreamNoFinalizer(stored, ZSTD_LEVEL)) {
            zstd.setChecksum(true);
            byte[] buffer = new byte[COPY_BUFFER_BYTES];
            int n;
            while ((n = content.read(buffer)) >= 0) {
                zstd.write(buffer, 0, n);
                uncompressed += n;
            }
            zstd.close();
            BlobRef blob = new BlobRef(name, stored.count, HexFormat.of().formatHex(sha256.digest()), BlobRef.ZSTD,
                    uncompressed);
            blobs.add(blob);
            return blob;
        }
    }

    /** Compresses a file (a disk image's holes read as zeros and compress to almost nothing). */
    public BlobRef addCompressedFile(String name, Path source) throws IOException {
        try (InputStream in = Files.newInputStream(source)) {
            return addCompressed(name, in);
        }
    }

    public List<BlobRef> blobs() {
        return List.copyOf(blobs);
    }

    /**
     * Writes the manifest (its blob list replaced by the blobs written here) and returns it as written.
     *
     * @throws InvalidPackageException when the manifest would not pass a reader's checks
     */
    public PackageManifest finish(PackageManifest manifest) throws IOException {
        PackageManifest complete = new PackageManifest(manifest.formatVersion(), manifest.id(), manifest.kind(),
                manifest.baseImage(), manifest.platform(), manifest.createdAtUnixMs(), manifest.sourceSandbox(),
                manifest.labels(), blobs);
        byte[] bytes = codec.write(complete);
        // What we write must be what any reader accepts.
        codec.read(bytes, "package " + manifest.id());
        Files.write(dir.resolve(PackageStore.MANIFEST_NAME), bytes);
        return complete;
    }

    @Override
    public void close() {
        FileTrees.deleteUnchecked(dir);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }

    private static final class CountingOutputStream extends java.io.FilterOutputStream {
        long count;

        CountingOutputStream(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            count += len;
        }
    }
}
