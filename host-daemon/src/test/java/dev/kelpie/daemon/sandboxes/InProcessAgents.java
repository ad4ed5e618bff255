package dev.kelpie.daemon.sandboxes;

import com.google.protobuf.ByteString;
import dev.kelpie.agent.v1.AgentGrpc;
import dev.kelpie.agent.v1.ExportWorkspaceRequest;
import dev.kelpie.agent.v1.ExportWorkspaceResponse;
import dev.kelpie.agent.v1.ImportWorkspaceRequest;
import dev.kelpie.agent.v1.ImportWorkspaceResponse;
import dev.kelpie.agent.v1.ReseedRequest;
import dev.kelpie.agent.v1.ReseedResponse;
import dev.kelpie.agent.v1.ExecRequest;
import dev.kelpie.agent.v1.ExecResponse;
import dev.kelpie.agent.v1.ExecStart;
import dev.kelpie.agent.v1.Exited;
import dev.kelpie.agent.v1.OutputChunk;
import dev.kelpie.agent.v1.OutputStream;
import dev.kelpie.agent.v1.ProcessEvent;
import dev.kelpie.agent.v1.Started;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import java.io.ByteArrayOutputStream;
import java.util.Map;
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
import java.util.concurrent.atomic.AtomicReference;

/**
 * One in-process gRPC agent per VM, reached through the manager's {@link AgentConnector} seam by the VM's "socket"
 * name. It answers Health, Configure, SyncClock, Reseed, Exec and the workspace transfers like the real agent and
 * records what it was told; an Exec's process does what the test tells it.
 */
public final class InProcessAgents implements AgentConnector, AutoCloseable {

    public final List<ConfigureRequest> configured = new CopyOnWriteArrayList<>();
    public final Set<String> unreachable = ConcurrentHashMap.newKeySet();
    /** What ExportWorkspace sends, by agent (VM id). */
    public final Map<String, byte[]> workspaces = new ConcurrentHashMap<>();
    /** What ImportWorkspace received, by agent (VM id). */
    public final Map<String, byte[]> imported = new ConcurrentHashMap<>();
    /** Reseeds received, by agent (VM id). */
    public final Map<String, ReseedRequest> reseeded = new ConcurrentHashMap<>();
    /** Agents (VM ids) whose ImportWorkspace refuses the tar, as the real agent refuses an escaping entry. */
    public final Set<String> refuseImport = ConcurrentHashMap.newKeySet();
    /** Paths WriteFile was started for, in order. */
    public final List<String> writesStarted = new CopyOnWriteArrayList<>();
    /** Processes started through Exec, in start order, running or ended. */
    public final List<RunningExec> execs = new CopyOnWriteArrayList<>();
    private static final int EXPORT_CHUNK_BYTES = 16 * 1024;
    private final List<Server> servers = new CopyOnWriteArrayList<>();

    @Override
    public ManagedChannel dial(Path socket, Duration deadline) {
        String name = socket.toString();
        if (unreachable.contains(name)) {
            throw new AgentUnavailableException("agent on " + name + " did not answer", null);
        }
        try {
            servers.add(InProcessServerBuilder.forName(name).directExecutor().addService(new Agent(name)).build().start());
        } catch (IOException e) {
            // Already serving under this name (a re-dial after recovery): reuse it.
        }
        return InProcessChannelBuilder.forName(name).directExecutor().build();
    }

    @Override
    public void close() {
        servers.forEach(Server::shutdownNow);
    }

    /** Breaks every running Exec stream of the agent on {@code socketName}, as a lost connection does. */
    public void disconnect(String socketName) {
        execs.stream().filter(e -> e.agent.equals(socketName))
                .forEach(e -> e.drop(Status.UNAVAILABLE.withDescription("connection to the agent lost")));
    }

    /**
     * A process the agent runs for one Exec stream; the test decides what it prints and how it ends. Ends at most
     * once, like a real process: later calls change nothing.
     */
    public static final class RunningExec {
        public final String agent;
        public final ExecStart start;
        private final StreamObserver<ExecResponse> out;
        private boolean ended;

        RunningExec(String agent, ExecStart start, StreamObserver<ExecResponse> out) {
            this.agent = agent;
            this.start = start;
            this.out = out;
        }

        public synchronized boolean ended() {
            return ended;
        }

        public synchronized void print(String text) {
            if (!ended) {
                out.onNext(event(ProcessEvent.newBuilder().setOutput(OutputChunk.newBuilder()
                        .setStream(OutputStream.OUTPUT_STREAM_STDOUT).setData(ByteString.copyFromUtf8(text)))));
            }
        }

        public synchronized void exit(int code) {
            finish(Exited.newBuilder().setExitCode(code).build());
        }

        /** What the agent does when {@code timeout_ms} passes: kills the process group and says so. */
        public synchronized void timeOut() {
            finish(Exited.newBuilder().setSignal(9).setTimedOut(true).build());
        }

        public synchronized void drop(Status status) {
            if (!ended) {
                ended = true;
                out.onError(status.asRuntimeException());
            }
        }

        /** The client went away: the agent kills the process and sends nothing more. */
        synchronized void cancelled() {
            ended = true;
        }

        private void finish(Exited exited) {
            if (!ended) {
                ended = true;
                out.onNext(event(ProcessEvent.newBuilder().setExited(exited)));
                out.onCompleted();
            }
        }

        private static ExecResponse event(ProcessEvent.Builder event) {
            return ExecResponse.newBuilder().setEvent(event).build();
        }
    }

    private final class Agent extends AgentGrpc.AgentImplBase {
        private final String name;

        Agent(String name) {
            this.name = name;
        }

        @Override
        public void exportWorkspace(ExportWorkspaceRequest request, StreamObserver<ExportWorkspaceResponse> out) {
            byte[] tar = workspaces.getOrDefault(name, new byte[0]);
            for (int at = 0; at < tar.length; at += EXPORT_CHUNK_BYTES) {
                out.onNext(ExportWorkspaceResponse.newBuilder()
                        .setData(ByteString.copyFrom(tar, at, Math.min(EXPORT_CHUNK_BYTES, tar.length - at))).build());
            }
            out.onCompleted();
        }

        @Override
        public StreamObserver<ImportWorkspaceRequest> importWorkspace(StreamObserver<ImportWorkspaceResponse> out) {
            ByteArrayOutputStream received = new ByteArrayOutputStream();
            return new StreamObserver<>() {
                @Override
                public void onNext(ImportWorkspaceRequest value) {
                    received.writeBytes(value.getData().toByteArray());
                }

                @Override
                public void onError(Throwable t) {
                }

                @Override
                public void onCompleted() {
                    if (refuseImport.contains(name)) {
                        out.onError(Status.INVALID_ARGUMENT.withDescription("tar entry ../x rejected").asRuntimeException());
                        return;
                    }
                    imported.put(name, received.toByteArray());
                    out.onNext(ImportWorkspaceResponse.getDefaultInstance());
                    out.onCompleted();
                }
            };
        }

        @Override
        public StreamObserver<ExecRequest> exec(StreamObserver<ExecResponse> out) {
            AtomicReference<RunningExec> started = new AtomicReference<>();
            ((ServerCallStreamObserver<ExecResponse>) out).setOnCancelHandler(() -> {
                if (started.get() != null) {
                    started.get().cancelled();
                }
            });
            return new StreamObserver<>() {
                private RunningExec process;

                @Override
                public void onNext(ExecRequest request) {
                    if (process == null && request.hasStart()) {
                        process = new RunningExec(name, request.getStart(), out);
                        started.set(process);
                        execs.add(process);
                        out.onNext(RunningExec.event(ProcessEvent.newBuilder().setStarted(
                                Started.newBuilder().setPid(execs.size()).setId("p" + execs.size()))));
                    }
                }

                @Override
                public void onError(Throwable t) {
                    if (process != null) {
                        process.cancelled();
                    }
                }

                @Override
                public void onCompleted() {
                    // stdin closed; the process runs on
                }
            };
        }

        @Override
        public StreamObserver<dev.kelpie.agent.v1.WriteFileRequest> writeFile(
                StreamObserver<dev.kelpie.agent.v1.WriteFileResponse> out) {
            return new StreamObserver<>() {
                private long size;

                @Override
                public void onNext(dev.kelpie.agent.v1.WriteFileRequest request) {
                    if (request.hasStart()) {
                        writesStarted.add(request.getStart().getPath());
                    } else {
                        size += request.getData().size();
                    }
                }

                @Override
                public void onError(Throwable t) {
                }

                @Override
                public void onCompleted() {
                    out.onNext(dev.kelpie.agent.v1.WriteFileResponse.newBuilder().setSizeBytes(size).build());
                    out.onCompleted();
                }
            };
        }

        @Override
        public void reseed(ReseedRequest request, StreamObserver<ReseedResponse> out) {
            reseeded.put(name, request);
            out.onNext(ReseedResponse.getDefaultInstance());
            out.onCompleted();
        }
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
