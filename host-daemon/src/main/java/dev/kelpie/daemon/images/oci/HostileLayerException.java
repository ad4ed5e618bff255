package dev.kelpie.daemon.images.oci;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;

/**
 * A layer entry that would write outside the root or link to something it must not: the image is refused
 * (FAILED_PRECONDITION), since no honest image builder writes such an entry.
 */
public final class HostileLayerException extends KelpieException {
    public HostileLayerException(String message) {
        super(ErrorKind.UNSUPPORTED, message);
    }
}
