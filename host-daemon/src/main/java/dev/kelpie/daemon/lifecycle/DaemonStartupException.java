package dev.kelpie.daemon.lifecycle;

/** The daemon cannot start; the message says why and what to do, and is all an operator needs to read. */
public final class DaemonStartupException extends RuntimeException {
    public DaemonStartupException(String message) {
        super(message);
    }

    public DaemonStartupException(String message, Throwable cause) {
        super(message, cause);
    }
}
