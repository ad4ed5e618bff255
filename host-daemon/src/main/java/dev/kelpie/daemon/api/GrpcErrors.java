package dev.kelpie.daemon.api;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;
import dev.kelpie.daemon.errors.NoSpace;
import dev.kelpie.teleport.InvalidImageVersionException;
import dev.kelpie.teleport.RestoreRejectedException;
import dev.kelpie.teleport.pkg.CorruptPackageException;
import dev.kelpie.teleport.pkg.InvalidPackageException;
import dev.kelpie.teleport.pkg.PackageNotFoundException;
import dev.kelpie.teleport.pkg.PackageSizeLimitException;
import dev.kelpie.teleport.store.PackageExistsException;
import dev.kelpie.teleport.store.SealBrokenException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;
import java.util.concurrent.CompletionException;
import org.jboss.logging.Logger;

/**
 * The one error table: what kind of failure each exception reports, and which status each kind becomes. No other
 * place builds a status; request checks in the API throw or build through {@link #of}. A failure of no known kind is a
 * bug in the daemon: INTERNAL, logged with its stack — never blamed on the client's arguments.
 */
final class GrpcErrors {

    private static final Logger LOG = Logger.getLogger(GrpcErrors.class);
    /**
     * The description travels in a response header (grpc-message), and clients refuse header blocks over 8 KiB:
     * a message echoing a huge input would turn a clear error into a transport failure.
     */
    static final int MAX_DESCRIPTION_CHARS = 2048;

    private GrpcErrors() {}

    /** The status a client sees for {@code t}, with the message that says what was wrong. */
    static StatusRuntimeException toStatus(Throwable t) {
        Throwable e = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
        if (e instanceof StatusRuntimeException s) {
            return s; // an agent's or a relayed peer's answer, which already says what went wrong
        }
        ErrorKind kind = NoSpace.reportedBy(e) ? ErrorKind.OUT_OF_DISK_SPACE : kindOf(e);
        if (kind == ErrorKind.BUG) {
            LOG.error("unexpected failure serving a request", e);
        }
        return of(kind, messageOf(kind, e));
    }

    /** The status of a failure of {@code kind} that {@code message} explains. */
    static StatusRuntimeException of(ErrorKind kind, String message) {
        return status(kind, message).asRuntimeException();
    }

    /** {@link #of} for a server call closed directly (an interceptor's refusal). */
    static Status status(ErrorKind kind, String message) {
        String description = message;
        if (description != null && description.length() > MAX_DESCRIPTION_CHARS) {
            description = description.substring(0, MAX_DESCRIPTION_CHARS) + "… (truncated)";
        }
        return codeOf(kind).withDescription(description);
    }

    private static Status codeOf(ErrorKind kind) {
        return switch (kind) {
            case BAD_REQUEST -> Status.INVALID_ARGUMENT;
            case NOT_FOUND -> Status.NOT_FOUND;
            case ALREADY_EXISTS -> Status.ALREADY_EXISTS;
            case WRONG_STATE, UNSUPPORTED -> Status.FAILED_PRECONDITION;
            case NO_ROOM, OUT_OF_DISK_SPACE -> Status.RESOURCE_EXHAUSTED;
            case CONFLICT -> Status.ABORTED;
            case UNREACHABLE -> Status.UNAVAILABLE;
            case TIMED_OUT -> Status.DEADLINE_EXCEEDED;
            case CORRUPT -> Status.DATA_LOSS;
            case DENIED -> Status.PERMISSION_DENIED;
            case UNAUTHENTICATED -> Status.UNAUTHENTICATED;
            case SHUTTING_DOWN -> Status.CANCELLED;
            case BUG -> Status.INTERNAL;
        };
    }

    private static ErrorKind kindOf(Throwable e) {
        return switch (e) {
            case KelpieException x -> x.kind();
            case ClientIdleException x -> ErrorKind.TIMED_OUT;
            case InterruptedException x -> ErrorKind.SHUTTING_DOWN;
            // The teleport library knows nothing of the daemon's kinds: its exceptions are classified here.
            case InvalidImageVersionException x -> ErrorKind.BAD_REQUEST;
            case InvalidPackageException x -> ErrorKind.BAD_REQUEST;
            case CorruptPackageException x -> ErrorKind.CORRUPT;
            case PackageNotFoundException x -> ErrorKind.NOT_FOUND;
            case RestoreRejectedException x -> ErrorKind.UNSUPPORTED;
            case PackageExistsException x -> ErrorKind.ALREADY_EXISTS;
            case PackageSizeLimitException x -> ErrorKind.NO_ROOM;
            case SealBrokenException x -> ErrorKind.CORRUPT;
            case UncheckedIOException x -> kindOf(x.getCause());
            // The daemon's own files (state, cache, staging) failing is the daemon's problem, not a passing one.
            case FileSystemException x -> ErrorKind.BUG;
            // Sockets and remote stores: trying again later may work.
            case IOException x -> ErrorKind.UNREACHABLE;
            default -> ErrorKind.BUG;
        };
    }

    private static String messageOf(ErrorKind kind, Throwable e) {
        Throwable shown = e instanceof UncheckedIOException && e.getCause() != null ? e.getCause() : e;
        return switch (kind) {
            case OUT_OF_DISK_SPACE -> "out of disk space: " + shown.getMessage();
            case SHUTTING_DOWN -> shown instanceof InterruptedException ? "the daemon is shutting down" : shown.getMessage();
            case BUG -> shown.getClass().getSimpleName() + ": " + shown.getMessage();
            case UNREACHABLE -> shown instanceof IOException && !(shown instanceof ClientIdleException)
                    ? shown.getClass().getSimpleName() + ": " + shown.getMessage() : shown.getMessage();
            default -> shown.getMessage();
        };
    }
}
