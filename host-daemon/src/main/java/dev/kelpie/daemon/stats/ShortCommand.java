package dev.kelpie.daemon.stats;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Runs a tool that prints one short line ({@code du}, {@code ps}) within a deadline. The output is read only after the
 * process ended: a line fits the pipe's buffer, and reading first would wait as long as the tool hangs (a stalled file
 * system), deadline or not. A tool that overruns is killed.
 */
final class ShortCommand {

    private ShortCommand() {}

    /** Its stdout, stripped, when it exited 0 within {@code timeoutMs}; empty otherwise. */
    static Optional<String> output(List<String> argv, long timeoutMs) throws InterruptedException {
        Process process;
        try {
            process = new ProcessBuilder(argv).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        } catch (IOException e) {
            return Optional.empty();
        }
        try {
            if (!process.waitFor(timeoutMs, TimeUnit.MILLISECONDS) || process.exitValue() != 0) {
                return Optional.empty();
            }
            return Optional.of(new String(process.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).strip());
        } catch (IOException e) {
            return Optional.empty();
        } finally {
            process.destroyForcibly();
        }
    }
}
