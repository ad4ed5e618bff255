package dev.kelpie.daemon.images;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;

/** An intact image this daemon cannot use here (other arch, agent protocol); the message says what differs. */
public final class IncompatibleImageException extends KelpieException {
    public IncompatibleImageException(String message) {
        super(ErrorKind.UNSUPPORTED, message);
    }
}
