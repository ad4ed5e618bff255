package dev.kelpie.teleport.pkg;

import com.github.luben.zstd.ZstdInputStreamNoFinalizer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Turns a stored blob into the file it stands for, checking it on the way: the stored bytes must have the manifest's
 * size and sha256, and must decompress to exactly the manifest's uncompressed size (a blob that inflates beyond it is
 * stopped there). The target exists only when every check passed, so nothing uses an unverified byte.
 */
public final class BlobExtractor {

    private static final int COPY_BUFFER_BYTES = 256 * 1024;

    private BlobExtractor() {}

    /**
     * @param stored the blob's stored bytes (closed here)
     * @param target written with zero blocks as holes; removed on failure
     * @param where names the package in messages
     * @throws CorruptPackageException when the bytes differ from the manifest
     */
    public static void extract(BlobRef blob, InputStream stored, Path target, String where) throws IOException {
        boolean done = false;
        try (CountingDigestInputStream counted = new CountingDigestInputStream(stored, blob.sizeBytes());
                SparseFileOutput out = new SparseFileOutput(target)) {
            long written = copyDecompressed(blob, counted, out, where);
            drain(counted);
            checkStored(blob, counted, where);
            if (written != blob.uncompressedSizeBytes()) {
                throw new CorruptPackageException(where + ": blob " + blob.name() + " decompresses to " + written
                        + " bytes, the manifest says " + blob.uncompressedSizeBytes());
            }
            done = true;
        } catch (CountingDigestInputStream.LimitExceededException e) {
            throw new CorruptPackageException(where + ": blob " + blob.name() + " is longer than the "
                    + blob.sizeBytes() + " bytes the manifest says");
        } finally {
            if (!done) {
                Files.deleteIfExists(target);
            }
        }
    }

    /** Reads a stored blob through and checks its size and sha256 without keeping it. */
    public static void verify(BlobRef blob, InputStream stored, String where) throws IOException {
        try (CountingDigestInputStream counted = new CountingDigestInputStream(stored, blob.sizeBytes())) {
            drain(counted);
            checkStored(blob, counted, where);
        } catch (CountingDigestInputStream.LimitExceededException e) {
            throw new CorruptPackageException(where + ": blob " + blob.name() + " is longer than the "
                    + blob.sizeBytes() + " bytes the manifest says");
        }
    }

    private static long copyDecompressed(BlobRef blob, CountingDigestInputStream counted, OutputStream out, String where)
            throws IOException {
        InputStream source = counted;
        if (BlobRef.ZSTD.equals(blob.compression())) {
            ZstdInputStreamNoFinalizer zstd = new ZstdInputStreamNoFinalizer(counted);
            // A stored blob is one complete frame; a cut one must fail, not end quietly.
            zstd.setContinuous(false);
            source = zstd;
        }
        byte[] buffer = new byte[COPY_BUFFER_BYTES];
        long written = 0;
        try {
            int n;
            while ((n = source.read(buffer)) > 0) {
                written += n;
                if (written > blob.uncompressedSizeBytes()) {
                    throw new CorruptPackageException(where + ": blob " + blob.name() + " inflates beyond the "
                            + blob.uncompressedSizeBytes() + " bytes the manifest says");
                }
                out.write(buffer, 0, n);
            }
        } catch (CountingDigestInputStream.LimitExceededException e) {
            throw e;
        } catch (IOException e) {
            if (source == counted) {
                throw e;
            }
            // The decoder's own checksum often notices a damaged blob first; the hash of the stored bytes is what
            // the manifest promises, so report that when it differs.
            drain(counted);
            checkStored(blob, counted, where);
            throw new CorruptPackageException(where + ": blob " + blob.name() + " does not decompress ("
                    + e.getMessage() + ") although its stored bytes match the manifest", e);
        }
        return written;
    }

    private static void drain(InputStream in) throws IOException {
        byte[] buffer = new byte[COPY_BUFFER_BYTES];
        while (in.read(buffer) >= 0) {
            // Only the hash and the count matter here.
        }
    }

    private static void checkStored(BlobRef blob, CountingDigestInputStream counted, String where) {
        if (counted.count() != blob.sizeBytes()) {
            throw new CorruptPackageException(where + ": blob " + blob.name() + " is " + counted.count()
                    + " bytes, the manifest says " + blob.sizeBytes() + " (truncated)");
        }
        String actual = counted.sha256Hex();
        if (!actual.equals(blob.sha256())) {
            throw new CorruptPackageException(where + ": blob " + blob.name() + " has sha256 " + actual
                    + ", the manifest says " + blob.sha256());
        }
    }
}
