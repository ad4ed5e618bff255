package dev.kelpie.daemon.images.oci;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;

/** An image whose root would be larger than the configured limit (RESOURCE_EXHAUSTED). */
public final class RootTooLargeException extends KelpieException {
    public RootTooLargeException(String message) {
        super(ErrorKind.NO_ROOM, message);
    }
}
