package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;

/** An operation lost to a Delete of its sandbox that came while it ran (a Create whose sandbox was deleted mid-boot). */
public final class SandboxDeletedException extends KelpieException {
    public SandboxDeletedException(String message) {
        super(ErrorKind.CONFLICT, message);
    }
}
