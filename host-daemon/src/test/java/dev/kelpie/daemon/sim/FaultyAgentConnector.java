package dev.kelpie.daemon.sim;

import dev.kelpie.daemon.agent.AgentConnector;
import dev.kelpie.daemon.agent.AgentUnavailableException;
import io.grpc.ManagedChannel;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Dials the in-process agent of a simulated VM: only a live VM's agent answers, and a fault can keep it silent. The
 * sessions go deaf when the daemon dies.
 */
final class FaultyAgentConnector implements AgentConnector {

    private final SimWorld world;
    private final Faults.Life life;
    private final CutOnDeath sessions;

    FaultyAgentConnector(SimWorld world, Faults.Life life) {
        this.world = world;
        this.life = life;
        this.sessions = new CutOnDeath(life, false);
    }

    @Override
    public ManagedChannel dial(Path socket, Duration deadline) throws InterruptedException {
        world.faults.mayHold("agent.dial");
        if (world.faults.at(life, "agent.dial") == Faults.Kind.FAIL) {
            world.agentNeverAnswered(socket.toString());
            throw new AgentUnavailableException("simulated: the agent on " + socket + " did not answer", null);
        }
        if (world.vms.byId(socket.toString()).filter(vm -> vm.isAlive()).isEmpty()) {
            throw new AgentUnavailableException("nothing listens on " + socket + ": its VM is gone", null);
        }
        return sessions.wrap(world.agents.dial(socket, deadline));
    }
}
