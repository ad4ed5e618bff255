package dev.kelpie.daemon.images.trust;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;

/**
 * A signature that does not vouch for the bytes it came with: malformed, made by an untrusted key, or not matching.
 * Unchecked because every caller reacts the same way (refuse the download) and the message says why.
 */
public final class SignatureRejectedException extends KelpieException {
    public SignatureRejectedException(String message) {
        super(ErrorKind.CORRUPT, message);
    }
}
