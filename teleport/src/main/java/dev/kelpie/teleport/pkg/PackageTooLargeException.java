package dev.kelpie.teleport.pkg;

/** A package is larger than this host takes, or than the room left where it would be staged; nothing was written. */
public final class PackageTooLargeException extends RuntimeException {

    public PackageTooLargeException(String message) {
        super(message);
    }
}
