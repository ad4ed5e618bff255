package dev.kelpie.daemon.sim;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;

/** What a damaging fault does to bytes in transit; the simulated payloads are small, so they are read whole. */
final class DamagedBytes {

    private DamagedBytes() {}

    static InputStream apply(Faults.Kind kind, InputStream in) throws IOException {
        if (kind != Faults.Kind.CORRUPT && kind != Faults.Kind.TRUNCATE) {
            return in;
        }
        byte[] bytes;
        try (in) {
            bytes = in.readAllBytes();
        }
        if (kind == Faults.Kind.TRUNCATE) {
            return new ByteArrayInputStream(bytes, 0, bytes.length / 2);
        }
        if (bytes.length > 0) {
            bytes[bytes.length / 2] ^= 0x10;
        }
        return new ByteArrayInputStream(bytes);
    }
}
