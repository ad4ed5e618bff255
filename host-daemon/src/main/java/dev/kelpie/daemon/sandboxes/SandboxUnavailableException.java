package dev.kelpie.daemon.sandboxes;

/** The sandbox's VM or agent cannot serve the request (it died, or never came up); the message says why. */
public final class SandboxUnavailableException extends RuntimeException {
    public SandboxUnavailableException(String message) {
        super(message);
    }

    public SandboxUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
