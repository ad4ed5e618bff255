package dev.kelpie.daemon.agent;

import dev.kelpie.agent.v1.AgentGrpc;
import dev.kelpie.agent.v1.ShutdownRequest;
import dev.kelpie.daemon.hypervisor.GuestShutdown;
import dev.kelpie.daemon.hypervisor.VmException;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/** Powers a guest off through its agent's {@code Shutdown}: how a VM is stopped where the VMM has no stop of its own. */
public final class AgentShutdown implements GuestShutdown {

    /** Time the guest's user processes get between SIGTERM and SIGKILL before the power-off. */
    static final int USER_PROCESS_GRACE_MS = 500;

    private final AgentConnector agents;

    public AgentShutdown(AgentConnector agents) {
        this.agents = agents;
    }

    @Override
    public void request(Path agentSocket, Duration within) throws InterruptedException {
        long deadline = System.nanoTime() + within.toNanos();
        ManagedChannel channel;
        try {
            channel = agents.dial(agentSocket, within);
        } catch (AgentUnavailableException e) {
            throw new VmException("the agent could not be asked to power off: " + e.getMessage(), e);
        }
        try {
            long remainingMillis = Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
            AgentGrpc.newBlockingStub(channel).withDeadlineAfter(remainingMillis, TimeUnit.MILLISECONDS)
                    .shutdown(ShutdownRequest.newBuilder().setGraceMs(USER_PROCESS_GRACE_MS).build());
        } catch (StatusRuntimeException e) {
            throw new VmException("the agent refused to power off: " + e.getStatus(), e);
        } finally {
            closeQuietly(channel);
        }
    }

    /** The power-off was asked for (or failed) already; a channel that will not close changes neither. */
    private static void closeQuietly(ManagedChannel channel) throws InterruptedException {
        try {
            AgentDialer.close(channel);
        } catch (AgentUnavailableException e) {
            channel.shutdownNow();
        }
    }
}
