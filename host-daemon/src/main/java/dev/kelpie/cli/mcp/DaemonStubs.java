package dev.kelpie.cli.mcp;

import dev.kelpie.api.v1.SandboxesGrpc;
import io.grpc.ManagedChannel;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Stubs for the daemon's API with deadlines, so that a daemon that stops answering turns into a tool error instead of
 * a tool call that never returns.
 */
final class DaemonStubs {

    /** Creating boots a VM (minutes under emulation), restoring unpacks a package too. */
    static final Duration SLOW_CALL_TIMEOUT = Duration.ofMinutes(10);
    /** Listing, deleting, a file. */
    static final Duration CALL_TIMEOUT = Duration.ofMinutes(2);
    /** Past a command's own timeout, the time the guest takes to kill it and report the exit. */
    static final Duration COMMAND_GRACE = Duration.ofSeconds(60);

    private final ManagedChannel channel;

    DaemonStubs(ManagedChannel channel) {
        this.channel = channel;
    }

    SandboxesGrpc.SandboxesBlockingStub blocking(Duration timeout) {
        return SandboxesGrpc.newBlockingStub(channel).withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    SandboxesGrpc.SandboxesBlockingStub blocking() {
        return blocking(CALL_TIMEOUT);
    }

    SandboxesGrpc.SandboxesStub async(Duration timeout) {
        return SandboxesGrpc.newStub(channel).withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }
}
