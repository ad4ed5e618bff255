package dev.kelpie.daemon.errors;

/** A failure of the daemon's domain, carrying its {@link ErrorKind} and a message that says what was wrong. */
public abstract class KelpieException extends RuntimeException {

    private final ErrorKind kind;

    protected KelpieException(ErrorKind kind, String message) {
        this(kind, message, null);
    }

    protected KelpieException(ErrorKind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public ErrorKind kind() {
        return kind;
    }
}
