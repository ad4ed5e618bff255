package dev.kelpie.daemon.hypervisor;

import dev.kelpie.daemon.errors.ErrorKind;

/** The backend cannot do this at all (e.g. libkrun 1.x has no pause or snapshot): asking again will not help. */
public final class VmOperationUnsupportedException extends VmException {

    public VmOperationUnsupportedException(String message) {
        super(ErrorKind.UNSUPPORTED, message, null);
    }
}
