package dev.kelpie.daemon.agent;

import io.grpc.ManagedChannel;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Opens a proven session to a VM's agent. The seam where a simulation puts an in-process agent instead of a socket.
 */
@FunctionalInterface
public interface AgentConnector {

    /**
     * A channel whose session answered {@code Health}.
     *
     * @throws AgentUnavailableException when none did before {@code deadline}
     */
    ManagedChannel dial(Path socket, Duration deadline) throws InterruptedException;
}
