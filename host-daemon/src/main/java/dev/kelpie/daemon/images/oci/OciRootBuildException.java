package dev.kelpie.daemon.images.oci;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;

/** The host could not build an OCI image's root (mke2fs failed, the base image's agent could not be read). */
public final class OciRootBuildException extends KelpieException {
    public OciRootBuildException(String message, Throwable cause) {
        super(ErrorKind.UNREACHABLE, message, cause);
    }
}
