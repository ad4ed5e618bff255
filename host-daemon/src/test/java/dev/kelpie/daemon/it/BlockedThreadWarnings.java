package dev.kelpie.daemon.it;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds the daemon's blocked-thread warnings in its log: Vert.x's ({@code io.vertx.core.impl.BlockedThreadChecker})
 * for its event loops and the daemon's {@code EventLoopWatchdog} for the API's and the agent channels' Netty loops,
 * which use the same words. Any one of them means a call held a thread that serves every other call.
 */
final class BlockedThreadWarnings {

    static final String MARKER = "has been blocked for";
    /** The stack lines that follow a warning, which say what held the thread. */
    private static final int STACK_LINES_KEPT = 12;

    private BlockedThreadWarnings() {}

    /** Each warning with the lines after it that belong to it (its stack), empty when there is none. */
    static List<String> in(Path log) {
        List<String> lines;
        try {
            lines = Files.readAllLines(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return List.of(); // no log, no warnings: a daemon that did not start fails its test elsewhere
        }
        List<String> found = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).contains(MARKER)) {
                StringBuilder warning = new StringBuilder(lines.get(i));
                for (int j = i + 1; j < lines.size() && j <= i + STACK_LINES_KEPT && isContinuation(lines.get(j)); j++) {
                    warning.append('\n').append(lines.get(j));
                }
                found.add(warning.toString());
            }
        }
        return found;
    }

    private static boolean isContinuation(String line) {
        return line.startsWith("\t") || line.startsWith(" ");
    }

    /** Fails naming the warnings in {@code log}, if any. */
    static void assertNone(Path log) {
        List<String> warnings = in(log);
        if (!warnings.isEmpty()) {
            throw new AssertionError("the daemon held an event loop (" + log + "):\n" + String.join("\n", warnings));
        }
    }
}
