package dev.kelpie.daemon.sandboxes;

/** The sandbox exists but its state does not allow the request (e.g. exec in a paused sandbox). */
public final class SandboxStateException extends RuntimeException {
    public SandboxStateException(String message) {
        super(message);
    }
}
