package dev.kelpie.daemon.images;

/** An intact image this daemon cannot use here (other arch, agent protocol); the message says what differs. */
public final class IncompatibleImageException extends RuntimeException {
    public IncompatibleImageException(String message) {
        super(message);
    }
}
