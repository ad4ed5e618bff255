package dev.kelpie.daemon.api;

import dev.kelpie.daemon.sandboxes.SandboxManager;
import dev.kelpie.daemon.sandboxes.SandboxNotFoundException;
import dev.kelpie.daemon.sandboxes.SandboxState;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.Optional;

/**
 * Explains a broken agent stream: when the sandbox's VM died, the client learns that (UNAVAILABLE with the reason
 * and the console's tail) rather than a bare transport error.
 */
final class AgentStreamErrors {

    /**
     * How long a stream broken under a READY sandbox waits for its VM's death to show. A dying qemu's sockets close
     * before its process is gone (the kernel tears it down, then its parent reaps it), so the stream usually breaks
     * while the VM still looks alive; a VM that is really alive costs the client this much delay on a rare error.
     */
    static final Duration VM_DEATH_VISIBLE_WITHIN = Duration.ofSeconds(2);
    private static final long POLL_INTERVAL_MS = 20;

    private AgentStreamErrors() {}

    static StatusRuntimeException explain(SandboxManager manager, String sandboxId, Throwable t) {
        if (t instanceof StatusRuntimeException s && s.getStatus().getCode() != Status.Code.UNAVAILABLE
                && s.getStatus().getCode() != Status.Code.CANCELLED) {
            return s; // the agent's own answer (NOT_FOUND, INVALID_ARGUMENT, ...) says it best
        }
        return reasonOnceSettled(manager, sandboxId)
                .map(reason -> Status.UNAVAILABLE.withDescription(reason).withCause(t).asRuntimeException())
                .orElseGet(() -> t instanceof StatusRuntimeException s
                        ? s.getStatus().withDescription("agent of sandbox " + sandboxId + ": " + s.getStatus().getDescription())
                                .asRuntimeException()
                        : GrpcErrors.toStatus(t));
    }

    private static Optional<String> reasonOnceSettled(SandboxManager manager, String sandboxId) {
        long deadline = System.nanoTime() + VM_DEATH_VISIBLE_WITHIN.toNanos();
        Optional<String> reason = manager.unavailabilityReason(sandboxId);
        while (reason.isEmpty() && isReady(manager, sandboxId) && System.nanoTime() < deadline) {
            try {
                Thread.sleep(POLL_INTERVAL_MS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            reason = manager.unavailabilityReason(sandboxId);
        }
        return reason;
    }

    /** Only a READY sandbox's VM is expected to serve; one being stopped or paused breaks its streams on purpose. */
    private static boolean isReady(SandboxManager manager, String sandboxId) {
        try {
            return manager.get(sandboxId).state() == SandboxState.READY;
        } catch (SandboxNotFoundException gone) {
            return false;
        }
    }
}
