package dev.kelpie.teleport.pkg;

import java.io.Closeable;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * A tar read from untrusted bytes. The tar reader reports a corrupt header, a bad PAX record or a cut-off archive as
 * an {@link IOException}, the type its source uses for a failing disk or a dropped connection, and callers turn an
 * IOException into "unavailable, try again", which a malformed archive never passes. So reads here tell the two
 * apart: the source's own failures pass through unchanged, the tar reader's become an
 * {@link InvalidPackageException} naming the archive.
 */
final class UntrustedTar implements Closeable {

    private final RememberingSource source;
    private final TarArchiveInputStream tar;
    private final String what;

    /** @param what names the archive in messages, e.g. "package p in store s: the workspace" */
    UntrustedTar(InputStream in, String what) {
        this.source = new RememberingSource(in);
        this.tar = new TarArchiveInputStream(source);
        this.what = what;
    }

    /** The next entry, or null after the last. */
    TarArchiveEntry nextEntry() throws IOException {
        try {
            return tar.getNextEntry();
        } catch (IOException | IllegalArgumentException e) {
            rethrowSourceFailure(e);
            throw invalid(e);
        }
    }

    /** The current entry's bytes; closing them does nothing, closing this ends them. */
    InputStream content() {
        return new InputStream() {
            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] bytes, int offset, int length) throws IOException {
                try {
                    return tar.read(bytes, offset, length);
                } catch (IOException | IllegalArgumentException e) {
                    rethrowSourceFailure(e);
                    throw invalid(e);
                }
            }
        };
    }

    @Override
    public void close() throws IOException {
        tar.close();
    }

    private void rethrowSourceFailure(Exception e) throws IOException {
        if (e instanceof IOException io && source.threw(io)) {
            throw io;
        }
    }

    private InvalidPackageException invalid(Exception e) {
        return new InvalidPackageException(what + " is not a valid tar: " + e.getMessage(), e);
    }

    /** Remembers the last failure of the stream underneath, to recognise it when the tar reader passes it on. */
    private static final class RememberingSource extends FilterInputStream {
        private IOException failure;

        RememberingSource(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            try {
                return super.read();
            } catch (IOException e) {
                failure = e;
                throw e;
            }
        }

        @Override
        public int read(byte[] bytes, int offset, int length) throws IOException {
            try {
                return super.read(bytes, offset, length);
            } catch (IOException e) {
                failure = e;
                throw e;
            }
        }

        @Override
        public long skip(long n) throws IOException {
            try {
                return super.skip(n);
            } catch (IOException e) {
                failure = e;
                throw e;
            }
        }

        /** Whether {@code e} is, or was caused by, a failure of this stream. */
        boolean threw(IOException e) {
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t == failure) {
                    return true;
                }
            }
            return false;
        }
    }
}
