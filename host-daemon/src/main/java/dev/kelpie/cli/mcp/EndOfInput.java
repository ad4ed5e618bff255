package dev.kelpie.cli.mcp;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * The client's input, which tells when it ends: over stdio, the client closing our stdin (or exiting) is the end of
 * the session, and the SDK's transport does not report it.
 */
final class EndOfInput extends FilterInputStream {

    private final Runnable onEnd;

    EndOfInput(InputStream in, Runnable onEnd) {
        super(in);
        this.onEnd = onEnd;
    }

    @Override
    public int read() throws IOException {
        return watch(() -> super.read());
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        return watch(() -> super.read(b, off, len));
    }

    private interface Read {
        int read() throws IOException;
    }

    private int watch(Read read) throws IOException {
        try {
            int n = read.read();
            if (n < 0) {
                onEnd.run();
            }
            return n;
        } catch (IOException e) {
            onEnd.run();
            throw e;
        }
    }
}
