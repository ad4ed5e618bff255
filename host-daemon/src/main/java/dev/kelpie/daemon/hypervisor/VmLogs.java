package dev.kelpie.daemon.hypervisor;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/** Reading a VM's logs (console, VMM output) for failure reports, never failing the report itself. */
public final class VmLogs {

    /** The tail is read from the end of the log; more than this is never needed for a report. */
    private static final int MAX_BYTES = 64 * 1024;

    private VmLogs() {}

    /** The last {@code lines} lines of {@code log}, or a note saying why there are none. */
    public static String tail(Path log, int lines) {
        try (RandomAccessFile file = new RandomAccessFile(log.toFile(), "r")) {
            long start = Math.max(0, file.length() - MAX_BYTES);
            byte[] bytes = new byte[(int) (file.length() - start)];
            file.seek(start);
            file.readFully(bytes);
            List<String> all = Arrays.asList(new String(bytes, StandardCharsets.UTF_8).split("\r?\n"));
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return Files.exists(log) ? "(console log unreadable: " + e.getMessage() + ")" : "(no console output)";
        }
    }

    /** The whole file, or empty when it cannot be read (a VMM that never got to write it). */
    public static String readQuietly(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            return "";
        }
    }
}
