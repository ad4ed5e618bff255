package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;

/** No sandbox has this id. */
public final class SandboxNotFoundException extends KelpieException {
    public SandboxNotFoundException(String id) {
        super(ErrorKind.NOT_FOUND, "no sandbox " + id);
    }
}
