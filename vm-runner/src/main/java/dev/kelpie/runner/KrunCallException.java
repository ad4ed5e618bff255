package dev.kelpie.runner;

/** A libkrun call returned {@code -errno}. */
public final class KrunCallException extends Exception {

    private final KrunFunction function;
    private final int errno;

    public KrunCallException(KrunFunction function, int errno) {
        super(function.symbol() + " returned -" + errno);
        this.function = function;
        this.errno = errno;
    }

    public KrunFunction function() {
        return function;
    }

    /** The positive errno. */
    public int errno() {
        return errno;
    }
}
