package dev.kelpie.cli;

import dev.kelpie.api.v1.TerminalSize;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The controlling terminal, through {@code stty} on {@code /dev/tty} (POSIX on Linux and macOS): raw mode for an
 * interactive shell, its size, and SIGWINCH for resizes.
 */
final class Terminal {

    private static final long STTY_TIMEOUT_SECONDS = 5;

    private Terminal() {}

    /** Restores the terminal's previous settings when closed. */
    interface RawMode extends AutoCloseable {
        RawMode NONE = () -> { };

        @Override
        void close();
    }

    static RawMode rawMode() throws IOException, InterruptedException {
        String saved = stty("-g").strip();
        stty("raw", "-echo");
        return () -> {
            try {
                stty(saved);
            } catch (IOException | InterruptedException e) {
                System.err.println("kelpie: could not restore the terminal (run `stty sane`): " + e.getMessage());
            }
        };
    }

    static Optional<TerminalSize> size() {
        try {
            String[] rowsColumns = stty("size").strip().split("\\s+");
            return Optional.of(InteractiveSession.size(Integer.parseInt(rowsColumns[0]), Integer.parseInt(rowsColumns[1])));
        } catch (IOException | InterruptedException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** Runs {@code action} on every SIGWINCH. */
    @SuppressWarnings("restriction")
    static void onResize(Runnable action) {
        try {
            sun.misc.Signal.handle(new sun.misc.Signal("WINCH"), signal -> action.run());
        } catch (IllegalArgumentException e) {
            // No SIGWINCH on this platform: the size stays what it was at the start.
        }
    }

    private static String stty(String... args) throws IOException, InterruptedException {
        String command = "stty " + String.join(" ", args) + " < /dev/tty";
        Process p = new ProcessBuilder("sh", "-c", command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(STTY_TIMEOUT_SECONDS, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException("stty " + String.join(" ", args) + " failed: " + out.strip());
        }
        return out;
    }
}
