package dev.kelpie.daemon.images;

/** An image directory that cannot be booted (missing file, unknown schema); the message says which and why. */
public final class InvalidImageException extends RuntimeException {
    public InvalidImageException(String message) {
        super(message);
    }
}
