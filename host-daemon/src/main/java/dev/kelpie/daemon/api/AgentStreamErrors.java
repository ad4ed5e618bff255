package dev.kelpie.daemon.api;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.Optional;

/**
 * Explains a broken agent stream: when the sandbox's VM died, the client learns that (UNAVAILABLE with the reason
 * and the console's tail) rather than a bare transport error.
 */
final class AgentStreamErrors {

    private AgentStreamErrors() {}

    static StatusRuntimeException explain(SandboxManager manager, String sandboxId, Throwable t) {
        if (t instanceof StatusRuntimeException s && s.getStatus().getCode() != Status.Code.UNAVAILABLE
                && s.getStatus().getCode() != Status.Code.CANCELLED) {
            return s; // the agent's own answer (NOT_FOUND, INVALID_ARGUMENT, ...) says it best
        }
        return reasonOnceSettled(manager, sandboxId)
                .map(reason -> GrpcErrors.of(ErrorKind.UNREACHABLE, reason))
                .orElseGet(() -> t instanceof StatusRuntimeException s
                        ? s.getStatus().withDescription("agent of sandbox " + sandboxId + ": " + s.getStatus().getDescription())
                                .asRuntimeException()
                        : GrpcErrors.toStatus(t));
    }

    private static Optional<String> reasonOnceSettled(SandboxManager manager, String sandboxId) {
        try {
            return manager.unavailabilityReasonOnceSettled(sandboxId);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return manager.unavailabilityReason(sandboxId);
        }
    }
}
