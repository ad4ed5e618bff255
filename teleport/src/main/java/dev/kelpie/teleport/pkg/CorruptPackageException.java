package dev.kelpie.teleport.pkg;

/** A package whose stored bytes differ from what its manifest promises: a flipped bit, a truncated or missing blob. */
public final class CorruptPackageException extends RuntimeException {

    public CorruptPackageException(String message) {
        super(message);
    }

    public CorruptPackageException(String message, Throwable cause) {
        super(message, cause);
    }
}
