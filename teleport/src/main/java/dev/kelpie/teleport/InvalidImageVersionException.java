package dev.kelpie.teleport;

/** An image version string that does not follow {@code image-build/version.regex}. */
public final class InvalidImageVersionException extends IllegalArgumentException {
    public InvalidImageVersionException(String message) {
        super(message);
    }
}
