package dev.kelpie.daemon.stats;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;

/**
 * The blocks a file occupies, which the JDK does not report: {@code du -k} (POSIX, so the same on Linux and macOS)
 * gives them in KiB. A sparse VM disk occupies far less than its size.
 */
final class DiskUsage {

    private static final long DU_TIMEOUT_MS = 5_000;
    private static final long KIB_BYTES = 1024;

    private DiskUsage() {}

    static OptionalLong allocatedBytes(Path file) {
        if (!Files.isRegularFile(file)) {
            return OptionalLong.empty();
        }
        try {
            return ShortCommand.output(List.of("du", "-k", file.toString()), DU_TIMEOUT_MS)
                    .map(out -> OptionalLong.of(parseKib(out) * KIB_BYTES)).orElse(OptionalLong.empty());
        } catch (RuntimeException e) {
            return OptionalLong.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return OptionalLong.empty();
        }
    }

    /** The first field of du's line: "1234\t/path". */
    static long parseKib(String duLine) {
        return Long.parseLong(duLine.split("\\s+", 2)[0]);
    }
}
