package dev.kelpie.daemon.images;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;

/** No image of the asked version and arch is available; the message names what is. */
public final class ImageNotFoundException extends KelpieException {
    public ImageNotFoundException(String message) {
        super(ErrorKind.NOT_FOUND, message);
    }
}
