package dev.kelpie.daemon.images.trust;

/**
 * A signature that does not vouch for the bytes it came with: malformed, made by an untrusted key, or not matching.
 * Unchecked because every caller reacts the same way (refuse the download) and the message says why.
 */
public final class SignatureRejectedException extends RuntimeException {
    public SignatureRejectedException(String message) {
        super(message);
    }
}
