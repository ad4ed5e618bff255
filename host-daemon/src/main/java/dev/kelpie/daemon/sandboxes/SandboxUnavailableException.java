package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;

/** The sandbox's VM or agent cannot serve the request (it died, or never came up); the message says why. */
public final class SandboxUnavailableException extends KelpieException {
    public SandboxUnavailableException(String message) {
        super(ErrorKind.UNREACHABLE, message);
    }

    public SandboxUnavailableException(String message, Throwable cause) {
        super(ErrorKind.UNREACHABLE, message, cause);
    }
}
