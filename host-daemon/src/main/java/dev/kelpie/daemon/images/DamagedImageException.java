package dev.kelpie.daemon.images;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;

/** Image bytes that are not what was signed or recorded (a flipped bit, a truncated file); never booted. */
public final class DamagedImageException extends KelpieException {
    public DamagedImageException(String message) {
        super(ErrorKind.CORRUPT, message);
    }
}
