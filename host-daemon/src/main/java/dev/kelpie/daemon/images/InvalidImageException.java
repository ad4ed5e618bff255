package dev.kelpie.daemon.images;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;

/** An image directory that cannot be booted (missing file, unknown schema); the message says which and why. */
public final class InvalidImageException extends KelpieException {
    public InvalidImageException(String message) {
        super(ErrorKind.UNSUPPORTED, message);
    }
}
