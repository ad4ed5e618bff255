package dev.kelpie.cli;

import dev.kelpie.api.v1.ExitStatus;
import dev.kelpie.api.v1.OutputStream;
import dev.kelpie.api.v1.ProcessEvent;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.OptionalInt;

/** Writes a process's events to this terminal: output to stdout/stderr as raw bytes, the exit as an exit code. */
final class ProcessOutput {

    /** Exit code for a process killed by signal N, as shells report it. */
    private static final int SIGNAL_EXIT_BASE = 128;

    private ProcessOutput() {}

    /** Writes the event; returns the exit code when the event is the process's exit. */
    static OptionalInt write(ProcessEvent event) {
        try {
            if (event.hasOutput()) {
                var stream = event.getOutput().getStream() == OutputStream.OUTPUT_STREAM_STDERR ? System.err : System.out;
                event.getOutput().getData().writeTo(stream);
                stream.flush();
            } else if (event.hasExit()) {
                return OptionalInt.of(exitCode(event.getExit()));
            }
            return OptionalInt.empty();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static int exitCode(ExitStatus exit) {
        if (exit.getTimedOut()) {
            System.err.println("kelpie: the command timed out and was killed");
        }
        if (exit.getOomKilled()) {
            System.err.println("kelpie: the command was killed for running out of memory");
        }
        return exit.hasSignal() ? SIGNAL_EXIT_BASE + exit.getSignal() : exit.getExitCode();
    }
}
