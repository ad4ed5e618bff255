package dev.kelpie.daemon.sim;

import dev.kelpie.daemon.images.pull.Release;
import dev.kelpie.daemon.images.pull.ReleaseFiles;
import dev.kelpie.daemon.images.pull.ReleaseSource;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Optional;
import java.util.OptionalLong;

/** A real release directory behind a flaky network: archive downloads can reset, arrive damaged, or outlive the daemon. */
final class FaultyReleaseSource implements ReleaseSource {

    private final ReleaseSource source;
    private final Faults faults;
    private final Faults.Life life;

    FaultyReleaseSource(ReleaseSource source, Faults faults, Faults.Life life) {
        this.source = source;
        this.faults = faults;
        this.life = life;
    }

    @Override
    public String name() {
        return source.name();
    }

    @Override
    public String location() {
        return source.location();
    }

    @Override
    public boolean requiresSignature() {
        return source.requiresSignature();
    }

    @Override
    public Optional<Release> find(String version, String arch) {
        return source.find(version, arch).map(FaultyRelease::new);
    }

    private final class FaultyRelease implements Release {
        private final Release release;

        FaultyRelease(Release release) {
            this.release = release;
        }

        @Override
        public String location() {
            return release.location();
        }

        @Override
        public OptionalLong size(String fileName) {
            return release.size(fileName);
        }

        @Override
        public InputStream open(String fileName, long offsetBytes) throws IOException {
            if (fileName.equals(ReleaseFiles.CHECKSUMS) || fileName.equals(ReleaseFiles.SIGNATURE)) {
                return release.open(fileName, offsetBytes);
            }
            Faults.Kind fault = faults.at(life, "release.archive");
            if (fault == Faults.Kind.FAIL) {
                throw new IOException("simulated: connection reset by the release server");
            }
            InputStream in = release.open(fileName, offsetBytes);
            if (fault == Faults.Kind.CRASH_MIDWAY) {
                long remaining = release.size(fileName).orElse(offsetBytes) - offsetBytes;
                return new CrashingStream(in, remaining / 2);
            }
            return DamagedBytes.apply(fault, in);
        }
    }

    /** Delivers {@code beforeCrashBytes}, then the daemon dies in the middle of the download. */
    private final class CrashingStream extends FilterInputStream {
        private long left;

        CrashingStream(InputStream in, long beforeCrashBytes) {
            super(in);
            this.left = beforeCrashBytes;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            if (left <= 0) {
                faults.crash(life, "release.archive (midway)");
            }
            int n = super.read(buffer, offset, (int) Math.min(length, left));
            if (n > 0) {
                left -= n;
            }
            return n;
        }
    }
}
