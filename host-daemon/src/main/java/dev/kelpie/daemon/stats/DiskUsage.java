package dev.kelpie.daemon.stats;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;

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
            Process du = new ProcessBuilder("du", "-k", file.toString()).redirectError(ProcessBuilder.Redirect.DISCARD)
                    .start();
            String out = new String(du.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).strip();
            if (!du.waitFor(DU_TIMEOUT_MS, TimeUnit.MILLISECONDS) || du.exitValue() != 0) {
                du.destroyForcibly();
                return OptionalLong.empty();
            }
            return OptionalLong.of(parseKib(out) * KIB_BYTES);
        } catch (IOException | RuntimeException e) {
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
