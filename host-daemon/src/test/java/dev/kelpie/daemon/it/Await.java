package dev.kelpie.daemon.it;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Waits for a condition with a deadline, so tests never sleep and hope. */
final class Await {

    /** Scales every test deadline; raise it on slow machines (e.g. -Dkelpie.test.timeoutFactor=3). */
    static final double TIMEOUT_FACTOR = Double.parseDouble(System.getProperty("kelpie.test.timeoutFactor", "1"));
    private static final long POLL_INTERVAL_MS = 50;

    private Await() {}

    static Duration scaled(Duration d) {
        return Duration.ofMillis((long) (d.toMillis() * TIMEOUT_FACTOR));
    }

    static void until(String what, Duration timeout, BooleanSupplier condition) {
        until(what, timeout, condition, () -> "");
    }

    /** As {@link #until(String, Duration, BooleanSupplier)}; {@code state} says what was seen when time ran out. */
    static void until(String what, Duration timeout, BooleanSupplier condition, Supplier<String> state) {
        long deadline = System.nanoTime() + scaled(timeout).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                String seen = state.get();
                throw new AssertionError("timed out after " + scaled(timeout).toMillis() + " ms waiting for " + what
                        + (seen.isEmpty() ? "" : "; " + seen));
            }
            try {
                Thread.sleep(POLL_INTERVAL_MS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what, e);
            }
        }
    }
}
