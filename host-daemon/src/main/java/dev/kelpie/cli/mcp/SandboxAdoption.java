package dev.kelpie.cli.mcp;

import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.NetworkMode;
import dev.kelpie.api.v1.NetworkPolicy;
import dev.kelpie.api.v1.Sandbox;
import io.grpc.Status;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Brings a new sandbox (created or restored) into the session: a slot is held while the daemon works, the result is
 * checked against the operator's limits as the daemon resolved it, and one that is over them, or that arrived after
 * the session ended, is deleted again.
 */
final class SandboxAdoption {

    static final Set<String> NETWORK_MODES = Set.of("none", "egress");

    private final McpSession session;
    private final McpLimits limits;
    private final DaemonStubs daemon;

    SandboxAdoption(McpSession session, McpLimits limits, DaemonStubs daemon) {
        this.session = session;
        this.limits = limits;
        this.daemon = daemon;
    }

    Sandbox adopt(Supplier<Sandbox> make, boolean keep) {
        session.beginCreate();
        Sandbox sandbox = null;
        boolean adopted;
        try {
            sandbox = make.get();
        } finally {
            adopted = session.endCreate(sandbox == null ? null : sandbox.getId());
        }
        if (!adopted) {
            if (!keep) {
                delete(sandbox.getId());
            }
            throw new ToolError(Status.Code.UNAVAILABLE, "this MCP session ended while the sandbox was being made");
        }
        try {
            limits.checkResolvedShape(sandbox.getSpec());
        } catch (ToolError e) {
            try {
                delete(sandbox.getId());
                session.forget(sandbox.getId());
            } catch (RuntimeException deleteFailed) {
                // Still the session's, so its end deletes it; the agent learns of the limit it broke, not of this.
                e.addSuppressed(deleteFailed);
            }
            throw e;
        }
        return sandbox;
    }

    /** The network policy from the tool's 'network' and 'allow' arguments, within the operator's limits. */
    NetworkPolicy network(ToolArguments args) {
        String mode = args.optionalChoice("network", NETWORK_MODES).orElse("none");
        var allow = args.stringList("allow");
        if (mode.equals("none")) {
            if (!allow.isEmpty()) {
                throw ToolError.invalid("'allow' needs network 'egress'");
            }
            return NetworkPolicy.newBuilder().setMode(NetworkMode.NETWORK_MODE_NONE).build();
        }
        return NetworkPolicy.newBuilder().setMode(NetworkMode.NETWORK_MODE_EGRESS)
                .addAllAllow(limits.egressAllowList(allow)).build();
    }

    private void delete(String sandboxId) {
        daemon.blocking().delete(DeleteSandboxRequest.newBuilder().setId(sandboxId).build());
    }
}
