package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;

/** The sandbox exists but its state does not allow the request (e.g. exec in a paused sandbox). */
public final class SandboxStateException extends KelpieException {
    public SandboxStateException(String message) {
        super(ErrorKind.WRONG_STATE, message);
    }
}
