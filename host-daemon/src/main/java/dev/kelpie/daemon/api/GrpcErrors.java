package dev.kelpie.daemon.api;

import dev.kelpie.teleport.RestoreRejectedException;
import dev.kelpie.teleport.pkg.CorruptPackageException;
import dev.kelpie.teleport.pkg.InvalidPackageException;
import dev.kelpie.teleport.pkg.PackageNotFoundException;
import dev.kelpie.teleport.pkg.PackageSizeLimitException;
import dev.kelpie.teleport.store.PackageExistsException;
import dev.kelpie.teleport.store.SealBrokenException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;

import dev.kelpie.daemon.agent.AgentUnavailableException;
import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.VmOperationUnsupportedException;
import dev.kelpie.daemon.network.HostPortUnavailableException;
import dev.kelpie.daemon.images.ImageNotFoundException;
import dev.kelpie.daemon.images.DamagedImageException;
import dev.kelpie.daemon.images.ImageInUseException;
import dev.kelpie.daemon.images.IncompatibleImageException;
import dev.kelpie.daemon.images.InvalidImageException;
import dev.kelpie.daemon.images.pull.ImagePullException;
import dev.kelpie.daemon.sandboxes.AdmissionDeniedException;
import dev.kelpie.daemon.sandboxes.SandboxNotFoundException;
import dev.kelpie.daemon.sandboxes.SandboxStateException;
import dev.kelpie.daemon.sandboxes.SandboxUnavailableException;
import dev.kelpie.teleport.InvalidImageVersionException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.concurrent.CompletionException;
import org.jboss.logging.Logger;

/** Maps the daemon's exceptions to the status a client sees, with the message that says what was wrong. */
final class GrpcErrors {

    private static final Logger LOG = Logger.getLogger(GrpcErrors.class);
    /**
     * The description travels in a response header (grpc-message), and clients refuse header blocks over 8 KiB:
     * a message echoing a huge input would turn a clear error into a transport failure.
     */
    static final int MAX_DESCRIPTION_CHARS = 2048;
    /** strerror(ENOSPC) as the JDK reports it, and as qemu's migration writer prints it into qemu.log. */
    private static final String NO_SPACE = "No space left";

    private GrpcErrors() {}

    static StatusRuntimeException toStatus(Throwable t) {
        Throwable e = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
        Status status = switch (e) {
            case StatusRuntimeException s -> s.getStatus();
            case SandboxNotFoundException x -> Status.NOT_FOUND.withDescription(x.getMessage());
            case ImageNotFoundException x -> Status.NOT_FOUND.withDescription(x.getMessage());
            case InvalidImageVersionException x -> Status.INVALID_ARGUMENT.withDescription(x.getMessage());
            case InvalidImageException x -> Status.FAILED_PRECONDITION.withDescription(x.getMessage());
            case IncompatibleImageException x -> Status.FAILED_PRECONDITION.withDescription(x.getMessage());
            case ImageInUseException x -> Status.FAILED_PRECONDITION.withDescription(x.getMessage());
            case DamagedImageException x -> Status.DATA_LOSS.withDescription(x.getMessage());
            case ImagePullException x -> pullStatus(x).withDescription(x.getMessage());
            case AdmissionDeniedException x -> Status.RESOURCE_EXHAUSTED.withDescription(x.getMessage());
            case SandboxStateException x -> Status.FAILED_PRECONDITION.withDescription(x.getMessage());
            case SandboxUnavailableException x -> Status.UNAVAILABLE.withDescription(x.getMessage());
            case AgentUnavailableException x -> Status.UNAVAILABLE.withDescription(x.getMessage());
            // A VM state save writes through qemu into the daemon's staging area: the host's disk, not the VM, is full.
            case VmException x when mentionsNoSpace(x) -> outOfDiskSpace(x);
            case VmOperationUnsupportedException x -> Status.FAILED_PRECONDITION.withDescription(x.getMessage());
            case HostPortUnavailableException x -> Status.FAILED_PRECONDITION.withDescription(x.getMessage());
            case VmException x -> Status.UNAVAILABLE.withDescription(x.getMessage());
            case InterruptedException x -> Status.CANCELLED.withDescription("the daemon is shutting down");
            case ClientIdleException x -> Status.DEADLINE_EXCEEDED.withDescription(x.getMessage());
            case InvalidPackageException x -> Status.INVALID_ARGUMENT.withDescription(x.getMessage());
            case CorruptPackageException x -> Status.DATA_LOSS.withDescription(x.getMessage());
            case PackageNotFoundException x -> Status.NOT_FOUND.withDescription(x.getMessage());
            case RestoreRejectedException x -> Status.FAILED_PRECONDITION.withDescription(x.getMessage());
            case PackageExistsException x -> Status.ALREADY_EXISTS.withDescription(x.getMessage());
            case PackageSizeLimitException x -> Status.RESOURCE_EXHAUSTED.withDescription(x.getMessage());
            case SealBrokenException x -> Status.DATA_LOSS.withDescription(x.getMessage());
            case UncheckedIOException x -> toStatus(x.getCause()).getStatus();
            case FileSystemException x when String.valueOf(x.getReason()).contains(NO_SPACE) -> outOfDiskSpace(x);
            case IOException x when mentionsNoSpace(x) -> outOfDiskSpace(x);
            case IOException x -> Status.UNAVAILABLE.withDescription(x.getClass().getSimpleName() + ": " + x.getMessage());
            case IllegalArgumentException x -> Status.INVALID_ARGUMENT.withDescription(x.getMessage());
            default -> {
                LOG.error("unexpected failure serving a request", e);
                yield Status.INTERNAL.withDescription(e.getClass().getSimpleName() + ": " + e.getMessage());
            }
        };
        String description = status.getDescription();
        if (description != null && description.length() > MAX_DESCRIPTION_CHARS) {
            status = status.withDescription(description.substring(0, MAX_DESCRIPTION_CHARS) + "… (truncated)");
        }
        return status.asRuntimeException();
    }

    private static Status outOfDiskSpace(Exception e) {
        return Status.RESOURCE_EXHAUSTED.withDescription("out of disk space: " + e.getMessage());
    }

    /** Whether the failure or one of its causes says the disk was full. */
    private static boolean mentionsNoSpace(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (String.valueOf(t.getMessage()).contains(NO_SPACE)) {
                return true;
            }
        }
        return false;
    }

    private static Status pullStatus(ImagePullException e) {
        return switch (e.reason()) {
            case NOT_FOUND -> Status.NOT_FOUND;
            case RATE_LIMITED -> Status.RESOURCE_EXHAUSTED;
            case DENIED -> Status.PERMISSION_DENIED;
            case UNAVAILABLE -> Status.UNAVAILABLE;
            case UNTRUSTED -> Status.FAILED_PRECONDITION;
            case DAMAGED -> Status.DATA_LOSS;
        };
    }
}
