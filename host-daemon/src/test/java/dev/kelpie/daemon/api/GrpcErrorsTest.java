package dev.kelpie.daemon.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.daemon.images.pull.ImagePullException;
import io.grpc.Status;
import org.junit.jupiter.api.Test;

class GrpcErrorsTest {

    @Test
    void pullFailuresMapToTheStatusTheirReasonNames() {
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, GrpcErrors.toStatus(new ImagePullException(
                ImagePullException.Reason.RATE_LIMITED, "later")).getStatus().getCode());
        assertEquals(Status.Code.DATA_LOSS, GrpcErrors.toStatus(new ImagePullException(
                ImagePullException.Reason.DAMAGED, "bad bytes")).getStatus().getCode());
        assertEquals(Status.Code.FAILED_PRECONDITION, GrpcErrors.toStatus(new ImagePullException(
                ImagePullException.Reason.UNTRUSTED, "unsigned")).getStatus().getCode());
    }

    @Test
    void teleportFailuresMapToTheStatusTheIssueNames() {
        assertEquals(Status.Code.DATA_LOSS, code(new dev.kelpie.teleport.pkg.CorruptPackageException("flipped")));
        assertEquals(Status.Code.INVALID_ARGUMENT, code(new dev.kelpie.teleport.pkg.InvalidPackageException("not json")));
        assertEquals(Status.Code.FAILED_PRECONDITION, code(new dev.kelpie.teleport.RestoreRejectedException("1.2 vs 1.3")));
        assertEquals(Status.Code.INVALID_ARGUMENT, code(new dev.kelpie.teleport.InvalidImageVersionException("banana")));
        assertEquals(Status.Code.NOT_FOUND, code(new dev.kelpie.teleport.pkg.PackageNotFoundException("pkg-1", "local")));
        assertEquals(Status.Code.ALREADY_EXISTS, code(new dev.kelpie.teleport.store.PackageExistsException("taken")));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, code(new java.io.UncheckedIOException(
                new java.nio.file.FileSystemException("/state/x", null, "No space left on device"))));
        assertEquals(Status.Code.UNAVAILABLE, code(new java.io.IOException("connection refused")));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, code(new java.io.IOException("publishing failed",
                new java.io.IOException("No space left on device"))), "a disk-full cause, wrapped");
        assertEquals(Status.Code.DATA_LOSS, code(new dev.kelpie.teleport.store.SealBrokenException("other key")));
    }

    @Test
    void aVmStateSaveThatFilledTheHostDiskIsResourceExhaustedAndOtherVmFailuresUnavailable() {
        Status full = GrpcErrors.toStatus(new dev.kelpie.daemon.hypervisor.VmException("saving the state of vm failed:"
                + " the migration failed: Unable to write to command: Broken pipe (qemu.log: cat: write error: No space"
                + " left on device)")).getStatus();
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, full.getCode());
        assertTrue(full.getDescription().startsWith("out of disk space: saving the state"), full.getDescription());
        assertEquals(Status.Code.UNAVAILABLE, code(new dev.kelpie.daemon.hypervisor.VmException("qemu ended")));
    }

    private static Status.Code code(Throwable t) {
        return GrpcErrors.toStatus(t).getStatus().getCode();
    }

    @Test
    void aHugeMessageIsTruncatedToFitAResponseHeader() {
        Status status = GrpcErrors.toStatus(new IllegalArgumentException("y".repeat(50_000))).getStatus();
        assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode());
        assertTrue(status.getDescription().length() <= GrpcErrors.MAX_DESCRIPTION_CHARS + 20);
        assertTrue(status.getDescription().endsWith("(truncated)"));
    }
}
