package dev.kelpie.teleport.store;

import java.io.IOException;
import java.io.InputStream;

/**
 * Passes through exactly the length a file had when its package was scanned, and fails when the file turns out
 * shorter or longer: a blob that changes while it is published must fail the publish, not store a torn copy
 * under a size the store already declared.
 */
final class ExactLengthInputStream extends InputStream {

    // InputStream rather than FilterInputStream: every inherited bulk method (readAllBytes, transferTo, skip) then
    // goes through read() below and cannot bypass the length check.
    private final InputStream in;
    private final long expectedBytes;
    private final String description;
    private long readBytes;

    ExactLengthInputStream(InputStream in, long expectedBytes, String description) {
        this.in = in;
        this.expectedBytes = expectedBytes;
        this.description = description;
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] buffer, int offset, int length) throws IOException {
        if (length == 0) {
            return 0;
        }
        long remaining = expectedBytes - readBytes;
        if (remaining == 0) {
            if (in.read() >= 0) {
                throw changed("longer than");
            }
            return -1;
        }
        int n = in.read(buffer, offset, (int) Math.min(length, remaining));
        if (n < 0) {
            throw changed("shorter than");
        }
        readBytes += n;
        return n;
    }

    @Override
    public void close() throws IOException {
        in.close();
    }

    private IOException changed(String comparison) {
        return new IOException(description + " is now " + comparison + " the " + expectedBytes
                + " bytes it had when the package was scanned; it changed during the publish");
    }
}
