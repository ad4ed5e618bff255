package dev.kelpie.daemon.network;

/** A port forward's host port is held by another process: asking again with another port (or 0) helps. */
public final class HostPortUnavailableException extends RuntimeException {

    public HostPortUnavailableException(String message) {
        super(message);
    }
}
