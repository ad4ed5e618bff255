package dev.kelpie.daemon.sandboxes;

import dev.kelpie.agent.v1.AgentGrpc;
import dev.kelpie.agent.v1.ConfigureRequest;
import dev.kelpie.agent.v1.ConfigureResponse;
import dev.kelpie.agent.v1.HealthRequest;
import dev.kelpie.agent.v1.HealthResponse;
import dev.kelpie.agent.v1.SyncClockRequest;
import dev.kelpie.agent.v1.SyncClockResponse;
import dev.kelpie.daemon.agent.AgentConnector;
import dev.kelpie.daemon.agent.AgentUnavailableException;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * One in-process gRPC agent per VM, reached through the manager's {@link AgentConnector} seam by the VM's "socket"
 * name. It answers Health, Configure and SyncClock like the real agent and records what it was told.
 */
final class InProcessAgents implements AgentConnector, AutoCloseable {

    final List<ConfigureRequest> configured = new CopyOnWriteArrayList<>();
    final Set<String> unreachable = ConcurrentHashMap.newKeySet();
    private final List<Server> servers = new CopyOnWriteArrayList<>();

    @Override
    public ManagedChannel dial(Path socket, Duration deadline) {
        String name = socket.toString();
        if (unreachable.contains(name)) {
            throw new AgentUnavailableException("agent on " + name + " did not answer", null);
        }
        try {
            servers.add(InProcessServerBuilder.forName(name).directExecutor().addService(new Agent()).build().start());
        } catch (IOException e) {
            // Already serving under this name (a re-dial after recovery): reuse it.
        }
        return InProcessChannelBuilder.forName(name).directExecutor().build();
    }

    @Override
    public void close() {
        servers.forEach(Server::shutdownNow);
    }

    private final class Agent extends AgentGrpc.AgentImplBase {
        @Override
        public void health(HealthRequest request, StreamObserver<HealthResponse> out) {
            out.onNext(HealthResponse.getDefaultInstance());
            out.onCompleted();
        }

        @Override
        public void configure(ConfigureRequest request, StreamObserver<ConfigureResponse> out) {
            configured.add(request);
            out.onNext(ConfigureResponse.getDefaultInstance());
            out.onCompleted();
        }

        @Override
        public void syncClock(SyncClockRequest request, StreamObserver<SyncClockResponse> out) {
            out.onNext(SyncClockResponse.getDefaultInstance());
            out.onCompleted();
        }
    }
}
