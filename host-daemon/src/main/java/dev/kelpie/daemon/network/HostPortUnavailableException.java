package dev.kelpie.daemon.network;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;

/** A port forward's host port is held by another process: asking again with another port (or 0) helps. */
public final class HostPortUnavailableException extends KelpieException {

    public HostPortUnavailableException(String message) {
        super(ErrorKind.WRONG_STATE, message);
    }
}
