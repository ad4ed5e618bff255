package dev.kelpie.daemon.images.cache;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** SHA-256 as the cache and its pulls use it: lowercase hex, streamed, never a whole file in memory. */
public final class BlobHashing {

    private static final int BUFFER_BYTES = 1 << 20;

    private BlobHashing() {}

    public static MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }

    /** Hex of a finished digest. */
    public static String hex(MessageDigest digest) {
        return HexFormat.of().formatHex(digest.digest());
    }

    /** Adds the first {@code lengthBytes} of {@code file} (all of it when negative) to {@code digest}. */
    public static long update(MessageDigest digest, Path file, long lengthBytes) throws IOException {
        long total = 0;
        byte[] buffer = new byte[BUFFER_BYTES];
        try (InputStream in = Files.newInputStream(file)) {
            while (lengthBytes < 0 || total < lengthBytes) {
                int want = lengthBytes < 0 ? buffer.length : (int) Math.min(buffer.length, lengthBytes - total);
                int n = in.read(buffer, 0, want);
                if (n < 0) {
                    break;
                }
                digest.update(buffer, 0, n);
                total += n;
            }
        }
        return total;
    }

    public static String sha256(Path file) throws IOException {
        MessageDigest digest = newDigest();
        update(digest, file, -1);
        return hex(digest);
    }
}
