package dev.kelpie.daemon.images;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;

/** A removal of an image that sandboxes or pooled VMs still boot from. */
public final class ImageInUseException extends KelpieException {
    public ImageInUseException(String message) {
        super(ErrorKind.WRONG_STATE, message);
    }
}
