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

    @Test
    void aProgrammingErrorIsInternalNeverTheClientsFault() {
        Status status = GrpcErrors.toStatus(new IllegalArgumentException("index -1 out of bounds")).getStatus();
        assertEquals(Status.Code.INTERNAL, status.getCode());
        assertEquals("IllegalArgumentException: index -1 out of bounds", status.getDescription());
        assertEquals(Status.Code.INTERNAL, code(new NullPointerException("record")));
        assertEquals(Status.Code.INTERNAL, code(new java.nio.file.AccessDeniedException("/state/sandboxes/sb1.json")),
                "the daemon's own files failing is the daemon's problem");
    }

    @Test
    void everyKindHasAStatusAndOnlyBugsAreInternal() {
        for (dev.kelpie.daemon.errors.ErrorKind kind : dev.kelpie.daemon.errors.ErrorKind.values()) {
            Status.Code code = GrpcErrors.of(kind, "x").getStatus().getCode();
            assertEquals(kind == dev.kelpie.daemon.errors.ErrorKind.BUG, code == Status.Code.INTERNAL, kind.name());
            assertTrue(code != Status.Code.UNKNOWN && code != Status.Code.OK, kind.name());
        }
    }

    @Test
    void aFullDiskIsKnownByWhatThePlatformReportsNotByWordsInAMessage() throws Exception {
        java.nio.file.Path full = java.nio.file.Path.of("/dev/full"); // every write to it fails with ENOSPC
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isWritable(full), "no /dev/full here");
        java.io.IOException real = org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class, () -> {
            try (var out = java.nio.channels.FileChannel.open(full, java.nio.file.StandardOpenOption.WRITE)) {
                out.write(java.nio.ByteBuffer.allocate(4096));
            }
        });
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, code(real), real.toString());
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, code(new dev.kelpie.daemon.sandboxes.SandboxUnavailableException(
                "publishing failed", real)), "ENOSPC under another failure");
        assertEquals(Status.Code.UNAVAILABLE, code(new java.io.IOException("a file named 'No space left on device.txt'"
                + " is missing")), "words that merely mention it are not the platform's report");
    }

    private static Status.Code code(Throwable t) {
        return GrpcErrors.toStatus(t).getStatus().getCode();
    }

    @Test
    void aHugeMessageIsTruncatedToFitAResponseHeader() {
        Status status = GrpcErrors.toStatus(new dev.kelpie.daemon.errors.InvalidRequestException("y".repeat(50_000)))
                .getStatus();
        assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode());
        assertTrue(status.getDescription().length() <= GrpcErrors.MAX_DESCRIPTION_CHARS + 20);
        assertTrue(status.getDescription().endsWith("(truncated)"));
    }
}
