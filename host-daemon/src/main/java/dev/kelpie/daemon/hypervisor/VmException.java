package dev.kelpie.daemon.hypervisor;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;
import dev.kelpie.daemon.errors.NoSpace;

/** A VMM could not do what was asked; the message says what and includes what the VMM printed. */
public class VmException extends KelpieException {

    public VmException(String message) {
        this(message, null);
    }

    public VmException(String message, Throwable cause) {
        this(NoSpace.reportedBy(message, cause) ? ErrorKind.OUT_OF_DISK_SPACE : ErrorKind.UNREACHABLE, message, cause);
    }

    protected VmException(ErrorKind kind, String message, Throwable cause) {
        super(kind, message, cause);
    }
}
