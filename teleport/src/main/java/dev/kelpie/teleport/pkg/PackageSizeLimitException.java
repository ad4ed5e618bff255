package dev.kelpie.teleport.pkg;

/** A package is larger than this host takes, or than the room left where it would be staged; nothing was written. */
public final class PackageSizeLimitException extends RuntimeException {

    public PackageSizeLimitException(String message) {
        super(message);
    }
}
