package dev.kelpie.daemon.hypervisor;

/** A VMM could not do what was asked; the message says what and includes what the VMM printed. */
public class VmException extends RuntimeException {

    public VmException(String message) {
        super(message);
    }

    public VmException(String message, Throwable cause) {
        super(message, cause);
    }
}
