package dev.kelpie.daemon.hypervisor;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;

/** The selected backend cannot run guests of the architecture asked for here; the message says why. */
public final class GuestArchUnavailableException extends KelpieException {
    public GuestArchUnavailableException(String message) {
        super(ErrorKind.UNSUPPORTED, message);
    }
}
