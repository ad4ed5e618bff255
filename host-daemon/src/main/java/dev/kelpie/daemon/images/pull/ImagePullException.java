package dev.kelpie.daemon.images.pull;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;

/** A pull that failed, with why in a form the API maps to a status code and words a person can act on. */
public final class ImagePullException extends KelpieException {

    /** Why a pull failed. */
    public enum Reason {
        /** The source has no such release or file. */
        NOT_FOUND,
        /** The source refuses for now (GitHub's rate limit); waiting or a token helps. */
        RATE_LIMITED,
        /** Credentials are missing or refused. */
        DENIED,
        /** The source cannot be reached, failed, or the transfer broke or stalled; pulling again may work. */
        UNAVAILABLE,
        /** The release's signature is missing, bad, or by a key that is not trusted. */
        UNTRUSTED,
        /** Bytes differ from what the signed checksums say, or the archive is malformed. */
        DAMAGED
    }

    private final Reason reason;

    public ImagePullException(Reason reason, String message) {
        super(kindOf(reason), message);
        this.reason = reason;
    }

    public ImagePullException(Reason reason, String message, Throwable cause) {
        super(kindOf(reason), message, cause);
        this.reason = reason;
    }

    private static ErrorKind kindOf(Reason reason) {
        return switch (reason) {
            case NOT_FOUND -> ErrorKind.NOT_FOUND;
            case RATE_LIMITED -> ErrorKind.NO_ROOM;
            case DENIED -> ErrorKind.DENIED;
            case UNAVAILABLE -> ErrorKind.UNREACHABLE;
            case UNTRUSTED -> ErrorKind.UNSUPPORTED;
            case DAMAGED -> ErrorKind.CORRUPT;
        };
    }

    public Reason reason() {
        return reason;
    }
}
