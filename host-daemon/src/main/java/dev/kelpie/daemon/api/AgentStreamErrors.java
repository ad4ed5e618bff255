package dev.kelpie.daemon.api;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.concurrent.CompletableFuture;

/**
 * Explains a broken agent stream: when the sandbox's VM died, the client learns that (UNAVAILABLE with the reason
 * and the console's tail) rather than a bare transport error.
 */
final class AgentStreamErrors {

    private AgentStreamErrors() {}

    /**
     * The status for a broken agent stream. A dying VM's sockets close before its process is gone, so the explanation
     * waits a moment for the death to show ({@link SandboxManager#settledAsync}); the wait happens in the future, not
     * on the caller's thread, which is a stream callback.
     */
    static CompletableFuture<StatusRuntimeException> explain(SandboxManager manager, String sandboxId, Throwable t) {
        if (isAgentsOwnAnswer(t)) {
            return CompletableFuture.completedFuture((StatusRuntimeException) t);
        }
        CompletableFuture<StatusRuntimeException> status = new CompletableFuture<>();
        // Always on a continuation thread: the caller may be an agent connection's event loop, and the explanation
        // reads the VM's console log.
        manager.settledAsync(sandboxId).whenCompleteAsync((settled, never) -> {
            try {
                status.complete(explainNow(manager, sandboxId, t));
            } catch (RuntimeException e) {
                status.complete(GrpcErrors.toStatus(e));
            }
        }, Continuations.EXECUTOR);
        return status;
    }

    private static boolean isAgentsOwnAnswer(Throwable t) {
        return t instanceof StatusRuntimeException s && s.getStatus().getCode() != Status.Code.UNAVAILABLE
                && s.getStatus().getCode() != Status.Code.CANCELLED;
    }

    private static StatusRuntimeException explainNow(SandboxManager manager, String sandboxId, Throwable t) {
        return manager.unavailabilityReason(sandboxId)
                .map(reason -> GrpcErrors.of(ErrorKind.UNREACHABLE, reason))
                .orElseGet(() -> t instanceof StatusRuntimeException s
                        ? s.getStatus().withDescription("agent of sandbox " + sandboxId + ": " + s.getStatus().getDescription())
                                .asRuntimeException()
                        : GrpcErrors.toStatus(t));
    }
}
