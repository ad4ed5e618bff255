package dev.kelpie.daemon.hypervisor;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/** The last lines of a VM's console log, for failure reports. */
public final class ConsoleTail {

    /** The tail is read from the end of the log; more than this is never needed for a report. */
    private static final int MAX_BYTES = 64 * 1024;

    private ConsoleTail() {}

    public static String read(Path log, int lines) {
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
}
