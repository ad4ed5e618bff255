package dev.kelpie.teleport.pkg;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** Hashes and counts what passes through, and refuses to read past a limit (a blob longer than its manifest says). */
final class CountingDigestInputStream extends FilterInputStream {

    private final MessageDigest sha256;
    private final long limitBytes;
    private long count;

    CountingDigestInputStream(InputStream in, long limitBytes) {
        super(in);
        this.limitBytes = limitBytes;
        try {
            this.sha256 = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] bytes, int offset, int length) throws IOException {
        int n = super.read(bytes, offset, length);
        if (n > 0) {
            sha256.update(bytes, offset, n);
            count += n;
            if (count > limitBytes) {
                throw new LimitExceededException(count);
            }
        }
        return n;
    }

    @Override
    public long skip(long n) throws IOException {
        // Skipped bytes would escape the hash.
        byte[] sink = new byte[(int) Math.min(n, 8192)];
        int read = read(sink, 0, sink.length);
        return Math.max(read, 0);
    }

    long count() {
        return count;
    }

    String sha256Hex() {
        return HexFormat.of().formatHex(sha256.digest());
    }

    /** Reading went past the limit; the stream is longer than promised. */
    static final class LimitExceededException extends IOException {
        final long countBytes;

        LimitExceededException(long countBytes) {
            super("more than the expected bytes");
            this.countBytes = countBytes;
        }
    }
}
