package dev.kelpie.teleport;

/** The gate refused a restore: the target's image or platform cannot take the package. */
public final class RestoreRejectedException extends RuntimeException {

    public RestoreRejectedException(String message) {
        super(message);
    }
}
