package dev.kelpie.daemon.api;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.agent.v1.AgentGrpc;
import dev.kelpie.agent.v1.ExecStart;
import dev.kelpie.api.v1.AttachRequest;
import dev.kelpie.api.v1.AttachResponse;
import dev.kelpie.api.v1.ExecInteractiveRequest;
import dev.kelpie.api.v1.ExecInteractiveResponse;
import dev.kelpie.api.v1.ExecRequest;
import dev.kelpie.api.v1.ExecResponse;
import dev.kelpie.api.v1.ProcessInput;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import dev.kelpie.daemon.metrics.SandboxMetrics;
import java.time.Duration;
import java.util.Optional;
import java.util.function.Function;
import java.util.function.Predicate;

/** Exec, ExecInteractive and Attach: each one agent stream, relayed with {@link StreamRelay}. */
final class ProcessStreams {

    private final SandboxManager manager;
    private final SandboxMetrics metrics;

    ProcessStreams(SandboxManager manager, SandboxMetrics metrics) {
        this.manager = manager;
        this.metrics = metrics;
    }

    /** The public event for an agent event, counted: output bytes, and the latency to Started for new processes. */
    private Optional<dev.kelpie.api.v1.ProcessEvent> observed(dev.kelpie.agent.v1.ProcessEvent event, long requestNanos) {
        if (event.hasOutput()) {
            metrics.outputStreamed(event.getOutput().getData().size());
        } else if (event.hasStarted() && requestNanos != 0) {
            metrics.execStarted(Duration.ofNanos(System.nanoTime() - requestNanos));
        }
        return ProcessMessages.fromAgent(event);
    }

    void exec(ExecRequest request, ServerCallStreamObserver<ExecResponse> out) {
        String id = request.getSandboxId();
        long requestNanos = System.nanoTime();
        CallActivity activity = new CallActivity(manager);
        var relay = new StreamRelay<dev.kelpie.agent.v1.ExecRequest, dev.kelpie.agent.v1.ExecResponse, ExecResponse>(out,
                r -> observed(r.getEvent(), requestNanos).map(e -> ExecResponse.newBuilder().setEvent(e).build()),
                r -> ProcessMessages.isFinal(r.getEvent()), t -> AgentStreamErrors.explain(manager, id, t), activity);
        try {
            activity.begin(id);
            ExecStart start = ProcessMessages.toAgent(request.getCommand(), manager.execDefaults(id));
            relay.startWhen(manager.agentAsync(id), (channel, observer) -> {
                StreamObserver<dev.kelpie.agent.v1.ExecRequest> requests = AgentGrpc.newStub(channel)
                        .withExecutor(StreamRelay.AGENT_CALLBACKS).exec(observer);
                requests.onNext(dev.kelpie.agent.v1.ExecRequest.newBuilder().setStart(start).build());
                requests.onCompleted();
            });
        } catch (RuntimeException e) {
            relay.fail(e);
        }
    }

    StreamObserver<ExecInteractiveRequest> execInteractive(ServerCallStreamObserver<ExecInteractiveResponse> out) {
        return new InteractiveSession<ExecInteractiveRequest, dev.kelpie.agent.v1.ExecRequest, dev.kelpie.agent.v1.ExecResponse,
                ExecInteractiveResponse>(out, r -> observed(r.getEvent(), 0)
                        .map(e -> ExecInteractiveResponse.newBuilder().setEvent(e).build()), r -> ProcessMessages.isFinal(r.getEvent())) {
            @Override
            String sandboxIdOf(ExecInteractiveRequest first) {
                return first.getStart().getSandboxId();
            }

            @Override
            void begin(ExecInteractiveRequest first) {
                if (!first.hasStart()) {
                    throw GrpcErrors.of(ErrorKind.BAD_REQUEST, "the first ExecInteractive message must be start");
                }
                String id = first.getStart().getSandboxId();
                activity.begin(id);
                ExecStart start = ProcessMessages.toAgent(first.getStart().getCommand(), manager.execDefaults(id));
                startWhenAgentIsThere(id, (channel, observer) -> {
                    var agentRequests = AgentGrpc.newStub(channel).exec(observer);
                    agentRequests.onNext(dev.kelpie.agent.v1.ExecRequest.newBuilder().setStart(start).build());
                    return agentRequests;
                });
            }

            @Override
            ProcessInput inputOf(ExecInteractiveRequest message) {
                return message.hasInput() ? message.getInput() : null;
            }

            @Override
            dev.kelpie.agent.v1.ExecRequest wrap(dev.kelpie.agent.v1.ProcessInput input) {
                return dev.kelpie.agent.v1.ExecRequest.newBuilder().setInput(input).build();
            }
        };
    }

    StreamObserver<AttachRequest> attach(ServerCallStreamObserver<AttachResponse> out) {
        return new InteractiveSession<AttachRequest, dev.kelpie.agent.v1.AttachRequest, dev.kelpie.agent.v1.AttachResponse,
                AttachResponse>(out, r -> observed(r.getEvent(), 0)
                        .map(e -> AttachResponse.newBuilder().setEvent(e).build()), r -> ProcessMessages.isFinal(r.getEvent())) {
            @Override
            String sandboxIdOf(AttachRequest first) {
                return first.getStart().getSandboxId();
            }

            @Override
            void begin(AttachRequest first) {
                if (!first.hasStart()) {
                    throw GrpcErrors.of(ErrorKind.BAD_REQUEST, "the first Attach message must be start");
                }
                var start = first.getStart();
                String id = start.getSandboxId();
                activity.begin(id);
                startWhenAgentIsThere(id, (channel, observer) -> {
                    var agentRequests = AgentGrpc.newStub(channel).attach(observer);
                    agentRequests.onNext(dev.kelpie.agent.v1.AttachRequest.newBuilder().setStart(
                            dev.kelpie.agent.v1.AttachStart.newBuilder().setId(start.getProcessId())
                                    .setStdoutOffsetBytes(start.getStdoutOffsetBytes())
                                    .setStderrOffsetBytes(start.getStderrOffsetBytes())).build());
                    return agentRequests;
                });
            }

            @Override
            ProcessInput inputOf(AttachRequest message) {
                return message.hasInput() ? message.getInput() : null;
            }

            @Override
            dev.kelpie.agent.v1.AttachRequest wrap(dev.kelpie.agent.v1.ProcessInput input) {
                return dev.kelpie.agent.v1.AttachRequest.newBuilder().setInput(input).build();
            }
        };
    }

    /**
     * A bidi process stream: the first client message starts (or attaches to) the process, the rest are input,
     * forwarded with a running stdin offset so the agent can drop chunks it already has. Input is pulled one message at
     * a time, and the next only once the agent's stream can take it: a client pushing stdin to a process that does not
     * read it is held back by HTTP/2 flow control instead of filling the daemon's heap.
     */
    abstract class InteractiveSession<C, Q, A, P> implements StreamObserver<C> {

        /** Made while the service method runs: gRPC takes cancel and ready handlers only then. */
        final StreamRelay<Q, A, P> relay;
        /** The sandbox's in-flight count, held from the start message to the stream's end. */
        final CallActivity activity = new CallActivity(manager);
        /** The agent call's request stream, once started (under this session's lock). */
        private StreamObserver<Q> requests;
        private final ServerCallStreamObserver<P> out;
        private volatile String sandboxId;
        private long stdinOffset;
        /** The client's next message is wanted as soon as the agent's stream is ready again. */
        private boolean wantInput;
        /** The client half-closed before the agent call was there: its stdin is closed once it is. */
        private boolean clientDone;

        InteractiveSession(ServerCallStreamObserver<P> out, Function<A, Optional<P>> translate, Predicate<A> isFinal) {
            this.out = out;
            this.relay = new StreamRelay<>(out, translate, isFinal, t -> AgentStreamErrors.explain(manager, sandboxId, t),
                    activity);
            relay.onUpstreamReady(this::agentReady);
            out.disableAutoRequest();
            out.request(1);
        }

        /** Asks the client for its next message now, or once the agent's stream has room. */
        private void askForInput() {
            var agent = relay.upstream();
            if (agent != null && agent.isReady()) {
                out.request(1);
            } else {
                wantInput = true;
            }
        }

        private synchronized void agentReady() {
            if (wantInput) {
                wantInput = false;
                out.request(1);
            }
        }

        /** The sandbox the first message names (empty if it names none). */
        abstract String sandboxIdOf(C first);

        /** Starts the agent stream for the first message, with {@link #startWhenAgentIsThere}. */
        abstract void begin(C first);

        /** Makes an agent call and sends its start message; returns the call's request stream. */
        @FunctionalInterface
        interface AgentCall<Q, A> {
            StreamObserver<Q> start(ManagedChannel channel, io.grpc.stub.ClientResponseObserver<Q, A> observer);
        }

        /**
         * Starts the agent call once the sandbox's session is there (a re-adopted sandbox's is dialled in the
         * background); only then is the client's next message asked for. Nothing waits on this callback thread.
         */
        void startWhenAgentIsThere(String id, AgentCall<Q, A> call) {
            relay.startWhen(manager.agentAsync(id), (channel, observer) -> {
                synchronized (this) {
                    requests = call.start(channel, observer);
                    if (clientDone) {
                        requests.onCompleted();
                        return;
                    }
                    askForInput();
                }
            });
        }

        /** The input in a later message, or null if it carries none. */
        abstract ProcessInput inputOf(C message);

        abstract Q wrap(dev.kelpie.agent.v1.ProcessInput input);

        @Override
        public synchronized void onNext(C message) {
            if (sandboxId == null) {
                try {
                    sandboxId = sandboxIdOf(message);
                    begin(message);
                } catch (RuntimeException e) {
                    relay.fail(e);
                }
                return;
            }
            if (requests == null) {
                return; // the start failed or the client cancelled; its status is on its way
            }
            ProcessInput input = inputOf(message);
            if (input == null) {
                requests.onError(GrpcErrors.of(ErrorKind.BAD_REQUEST, "only the first message may be start"));
                return;
            }
            requests.onNext(wrap(ProcessMessages.toAgent(input, stdinOffset)));
            if (input.hasStdin()) {
                stdinOffset += input.getStdin().size();
            }
            askForInput();
        }

        @Override
        public synchronized void onError(Throwable t) {
            // The client went away: the relay's cancel handler cancels the agent call.
        }

        @Override
        public synchronized void onCompleted() {
            if (requests != null) {
                requests.onCompleted();
            } else {
                clientDone = true;
            }
        }
    }
}
