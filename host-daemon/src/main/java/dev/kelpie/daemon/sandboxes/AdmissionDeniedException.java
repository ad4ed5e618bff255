package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;

/** The host has no room for the sandbox asked for; the message carries the numbers. */
public final class AdmissionDeniedException extends KelpieException {
    public AdmissionDeniedException(String message) {
        super(ErrorKind.NO_ROOM, message);
    }
}
