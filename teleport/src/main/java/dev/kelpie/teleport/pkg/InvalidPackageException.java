package dev.kelpie.teleport.pkg;

/** A package that is not well formed: a manifest that is not JSON or breaks a limit, an unsafe workspace tar. */
public final class InvalidPackageException extends RuntimeException {

    public InvalidPackageException(String message) {
        super(message);
    }

    public InvalidPackageException(String message, Throwable cause) {
        super(message, cause);
    }
}
