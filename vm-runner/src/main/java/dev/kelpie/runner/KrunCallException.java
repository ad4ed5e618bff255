package dev.kelpie.runner;

/**
 * A libkrun call failed: returned {@code -errno}, or for {@code krun_start_enter} returned at all (it never returns
 * once a VM runs).
 */
public final class KrunCallException extends Exception {

    private final KrunFunction function;
    private final int result;

    /** @param result what the call returned */
    public KrunCallException(KrunFunction function, int result) {
        super(function.symbol() + " returned " + result);
        this.function = function;
        this.result = result;
    }

    /** What the call returned. */
    public int result() {
        return result;
    }

    public KrunFunction function() {
        return function;
    }

    /** The positive errno, or 0 for a result that is none (a non-negative return of krun_start_enter). */
    public int errno() {
        return result < 0 ? -result : 0;
    }
}
