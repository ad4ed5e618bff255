package dev.kelpie.daemon.errors;

/** A request (or the package or file it hands the daemon) that is wrong in itself. */
public final class InvalidRequestException extends KelpieException {
    public InvalidRequestException(String message) {
        super(ErrorKind.BAD_REQUEST, message);
    }

    public InvalidRequestException(String message, Throwable cause) {
        super(ErrorKind.BAD_REQUEST, message, cause);
    }
}
