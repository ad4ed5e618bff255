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
    void aHugeMessageIsTruncatedToFitAResponseHeader() {
        Status status = GrpcErrors.toStatus(new IllegalArgumentException("y".repeat(50_000))).getStatus();
        assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode());
        assertTrue(status.getDescription().length() <= GrpcErrors.MAX_DESCRIPTION_CHARS + 20);
        assertTrue(status.getDescription().endsWith("(truncated)"));
    }
}
