package dev.kelpie.teleport.pkg;

import java.io.IOException;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Writes a file leaving all-zero blocks as holes: a restored 1 GiB writable disk that holds a few MiB of data costs a
 * few MiB, as the sandbox's own disk did.
 */
final class SparseFileOutput extends OutputStream {

    /** Zero runs shorter than a filesystem block save nothing; 64 KiB blocks keep the check cheap. */
    static final int BLOCK_BYTES = 64 * 1024;

    private static final byte[] ZEROS = new byte[BLOCK_BYTES];

    private final RandomAccessFile file;
    private final FileChannel channel;
    private final byte[] block = new byte[BLOCK_BYTES];
    private int filled;
    private long position;

    SparseFileOutput(Path target) throws IOException {
        this.file = new RandomAccessFile(target.toFile(), "rw");
        file.setLength(0);
        this.channel = file.getChannel();
    }

    @Override
    public void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] bytes, int offset, int length) throws IOException {
        while (length > 0) {
            int n = Math.min(length, BLOCK_BYTES - filled);
            System.arraycopy(bytes, offset, block, filled, n);
            filled += n;
            offset += n;
            length -= n;
            if (filled == BLOCK_BYTES) {
                flushBlock();
            }
        }
    }

    private void flushBlock() throws IOException {
        if (!allZero(block, filled)) {
            ByteBuffer buffer = ByteBuffer.wrap(block, 0, filled);
            long at = position;
            while (buffer.hasRemaining()) {
                at += channel.write(buffer, at);
            }
        }
        position += filled;
        filled = 0;
    }

    /** A restored disk is mostly zeros: the check runs over every byte, so it uses the JDK's vectorised compare. */
    private static boolean allZero(byte[] bytes, int length) {
        return Arrays.mismatch(bytes, 0, length, ZEROS, 0, length) < 0;
    }

    /** Bytes written so far, holes included. */
    long size() {
        return position + filled;
    }

    @Override
    public void close() throws IOException {
        try {
            flushBlock();
            // Trailing holes are not written: the length makes them part of the file.
            file.setLength(position);
            channel.force(true);
        } finally {
            file.close();
        }
    }
}
