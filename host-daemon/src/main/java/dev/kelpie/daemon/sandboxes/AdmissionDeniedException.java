package dev.kelpie.daemon.sandboxes;

/** The host has no room for the sandbox asked for; the message carries the numbers. */
public final class AdmissionDeniedException extends RuntimeException {
    public AdmissionDeniedException(String message) {
        super(message);
    }
}
