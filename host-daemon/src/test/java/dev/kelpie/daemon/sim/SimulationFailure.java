package dev.kelpie.daemon.sim;

import java.util.List;

/** A seed that broke an invariant: what broke, the steps that led there, and the command that replays it. */
final class SimulationFailure extends AssertionError {

    private static final int TRACE_LINES_SHOWN = 25;
    final long seed;
    final List<String> trace;

    SimulationFailure(long seed, List<String> trace, AssertionError violation) {
        super(describe(seed, trace, violation), violation);
        this.seed = seed;
        this.trace = List.copyOf(trace);
    }

    /** The one command that replays {@code seed}, printing every step. */
    static String replayCommand(long seed) {
        return "scripts/dev sim " + seed;
    }

    private static String describe(long seed, List<String> trace, AssertionError violation) {
        List<String> tail = trace.subList(Math.max(0, trace.size() - TRACE_LINES_SHOWN), trace.size());
        return "simulation seed " + seed + " broke an invariant at step " + (trace.size() - 1) + ": "
                + violation.getMessage() + "\nlast steps:\n  " + String.join("\n  ", tail)
                + "\nreplay: " + replayCommand(seed);
    }
}
