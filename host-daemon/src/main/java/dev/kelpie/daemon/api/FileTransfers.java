package dev.kelpie.daemon.api;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.agent.v1.AgentGrpc;
import dev.kelpie.api.v1.ReadFileRequest;
import dev.kelpie.api.v1.ReadFileResponse;
import dev.kelpie.api.v1.WriteFileRequest;
import dev.kelpie.api.v1.WriteFileResponse;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import dev.kelpie.api.v1.WriteFileStart;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.Optional;

/**
 * ReadFile and WriteFile, streamed through the agent in both directions with flow control: the daemon holds at most
 * a chunk or two of any file, whatever its size.
 */
final class FileTransfers {

    /** Times out uploads whose clients went quiet; one thread for all of them, it only cancels. */
    private static final ScheduledExecutorService IDLE_TIMERS = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("kelpie-upload-idle").daemon().factory());

    private final SandboxManager manager;
    private final Duration uploadIdle;

    FileTransfers(SandboxManager manager, Duration uploadIdle) {
        this.manager = manager;
        this.uploadIdle = uploadIdle;
    }

    void read(ReadFileRequest request, ServerCallStreamObserver<ReadFileResponse> out) {
        String id = request.getSandboxId();
        CallActivity activity = new CallActivity(manager);
        var relay = new StreamRelay<dev.kelpie.agent.v1.ReadFileRequest, dev.kelpie.agent.v1.ReadFileResponse, ReadFileResponse>(
                out, r -> Optional.of(ReadFileResponse.newBuilder().setData(r.getData()).setOffsetBytes(r.getOffsetBytes())
                        .setFileSizeBytes(r.getFileSizeBytes()).build()),
                null, t -> AgentStreamErrors.explain(manager, id, t), activity);
        try {
            requirePath(request.getPath());
            activity.begin(id);
            var agentRequest = dev.kelpie.agent.v1.ReadFileRequest.newBuilder().setPath(request.getPath())
                    .setOffsetBytes(request.getOffsetBytes()).setLengthBytes(request.getLengthBytes()).build();
            relay.startWhen(manager.agentAsync(id),
                    (channel, observer) -> AgentGrpc.newStub(channel).readFile(agentRequest, observer));
        } catch (RuntimeException e) {
            relay.fail(e);
        }
    }

    private static void requirePath(String path) {
        if (path.isEmpty() || path.indexOf('\0') >= 0) {
            throw GrpcErrors.of(ErrorKind.BAD_REQUEST, "path must be non-empty and contain no NUL");
        }
    }

    /**
     * The client's chunks are pulled one at a time, and the next only once the agent's stream can take it: a fast
     * uploader cannot fill the daemon's memory.
     */
    StreamObserver<WriteFileRequest> write(ServerCallStreamObserver<WriteFileResponse> out) {
        out.disableAutoRequest();
        Upload upload = new Upload(out);
        synchronized (upload) {
            upload.requestNext();
        }
        return upload;
    }

    private final class Upload implements StreamObserver<WriteFileRequest> {

        private final ServerCallStreamObserver<WriteFileResponse> out;
        private ClientCallStreamObserver<dev.kelpie.agent.v1.WriteFileRequest> upstream;
        private String sandboxId;
        /** The sandbox's agent session while it is awaited (a re-adopted sandbox's is dialled in the background). */
        private CompletableFuture<ManagedChannel> session;
        /** The client half-closed while the session was awaited: the agent hears the end once its call is made. */
        private boolean clientCompleted;
        private boolean wantMore;
        private boolean done;
        /** The client's silence timer while a message is asked for, null otherwise. */
        private ScheduledFuture<?> idle;
        /** The sandbox's in-flight count, held from the start message to the upload's end. */
        private final CallActivity activity = new CallActivity(manager);

        Upload(ServerCallStreamObserver<WriteFileResponse> out) {
            this.out = out;
            out.setOnCancelHandler(() -> {
                activity.run();
                synchronized (this) {
                    done = true;
                    if (session != null) {
                        session.cancel(false);
                    }
                    if (upstream != null) {
                        upstream.cancel("the API client cancelled the upload", null);
                    }
                }
            });
        }

        /** Asks the client for its next message, and gives it the idle time to send one. */
        private void requestNext() {
            idle = IDLE_TIMERS.schedule(this::clientWentQuiet, uploadIdle.toMillis(), TimeUnit.MILLISECONDS);
            out.request(1);
        }

        private synchronized void clientWentQuiet() {
            if (done || idle == null) {
                return;
            }
            if (upstream != null) {
                upstream.cancel("the API client went quiet", null); // the agent drops its temporary file
            }
            finish(GrpcErrors.toStatus(new ClientIdleException("WriteFile", uploadIdle)));
        }

        private void messageArrived() {
            if (idle != null) {
                idle.cancel(false);
                idle = null;
            }
        }

        @Override
        public synchronized void onNext(WriteFileRequest message) {
            messageArrived();
            if (done) {
                return;
            }
            if (upstream == null) {
                if (!message.hasStart()) {
                    finish(GrpcErrors.of(ErrorKind.BAD_REQUEST, "the first WriteFile message must be start"));
                    return;
                }
                var start = message.getStart();
                sandboxId = start.getSandboxId();
                try {
                    requirePath(start.getPath());
                } catch (RuntimeException e) {
                    finish(GrpcErrors.toStatus(e));
                    return;
                }
                try {
                    activity.begin(sandboxId);
                } catch (RuntimeException e) {
                    finish(GrpcErrors.toStatus(e));
                    return;
                }
                // Nothing waits here, on the call's callback thread: the upload goes on once the session is there,
                // and the client's next message is asked for only then.
                session = manager.agentAsync(sandboxId);
                Continuations.whenDone(session, (channel, error) -> sessionReady(channel, error, start));
                return;
            } else if (message.hasData()) {
                upstream.onNext(dev.kelpie.agent.v1.WriteFileRequest.newBuilder().setData(message.getData()).build());
            } else {
                upstream.cancel("a second start", null);
                finish(GrpcErrors.of(ErrorKind.BAD_REQUEST, "only the first WriteFile message may be start"));
                return;
            }
            if (upstream.isReady()) {
                requestNext();
            } else {
                wantMore = true;
            }
        }

        private synchronized void sessionReady(ManagedChannel channel, Throwable error, WriteFileStart start) {
            session = null;
            if (done) {
                return; // the client cancelled or went away meanwhile: no agent call is made for it
            }
            if (error != null) {
                finish(GrpcErrors.toStatus(error));
                return;
            }
            AgentGrpc.newStub(channel).writeFile(new AgentReplies());
            upstream.onNext(dev.kelpie.agent.v1.WriteFileRequest.newBuilder().setStart(
                    dev.kelpie.agent.v1.WriteFileStart.newBuilder().setPath(start.getPath()).setMode(start.getMode())
                            .setSizeBytes(start.getSizeBytes()).setSha256(start.getSha256())
                            .setCreateParents(start.getCreateParents())).build());
            if (clientCompleted) {
                upstream.onCompleted();
            } else if (upstream.isReady()) {
                requestNext();
            } else {
                wantMore = true;
            }
        }

        @Override
        public synchronized void onError(Throwable t) {
            // The client's stream broke (it cancelled): the cancel handler has cancelled the agent call.
            messageArrived();
            done = true;
            activity.run();
        }

        @Override
        public synchronized void onCompleted() {
            messageArrived();
            if (upstream != null && !done) {
                upstream.onCompleted(); // the client sent everything; the agent checks size and sha256
            } else if (session != null && !done) {
                clientCompleted = true;
            } else if (upstream == null && !done) {
                finish(GrpcErrors.of(ErrorKind.BAD_REQUEST, "WriteFile needs a start message"));
            }
        }

        /** The agent's side of the upload: flow-control signals and its verdict. */
        private final class AgentReplies implements
                ClientResponseObserver<dev.kelpie.agent.v1.WriteFileRequest, dev.kelpie.agent.v1.WriteFileResponse> {

            private dev.kelpie.agent.v1.WriteFileResponse result;

            @Override
            public void beforeStart(ClientCallStreamObserver<dev.kelpie.agent.v1.WriteFileRequest> requestStream) {
                upstream = requestStream;
                requestStream.setOnReadyHandler(() -> {
                    synchronized (Upload.this) {
                        if (wantMore && !done && upstream.isReady()) {
                            wantMore = false;
                            requestNext();
                        }
                    }
                });
            }

            @Override
            public void onNext(dev.kelpie.agent.v1.WriteFileResponse response) {
                result = response;
            }

            @Override
            public void onError(Throwable t) {
                // Explaining may wait for the VM's death to show: not here, and never holding the upload's monitor.
                AgentStreamErrors.explain(manager, sandboxId, t).whenComplete((status, failure) -> {
                    synchronized (Upload.this) {
                        finish(status != null ? status : GrpcErrors.toStatus(failure));
                    }
                });
            }

            @Override
            public void onCompleted() {
                synchronized (Upload.this) {
                    if (result == null) {
                        finish(GrpcErrors.of(ErrorKind.UNREACHABLE, "the agent ended the upload without an answer"));
                    } else {
                        finish(null, result);
                    }
                }
            }
        }

        private void finish(io.grpc.StatusRuntimeException error) {
            finish(error, null);
        }

        private void finish(io.grpc.StatusRuntimeException error, dev.kelpie.agent.v1.WriteFileResponse result) {
            if (done) {
                return;
            }
            done = true;
            messageArrived();
            activity.run();
            if (error != null) {
                out.onError(error);
                return;
            }
            out.onNext(WriteFileResponse.newBuilder().setSizeBytes(result.getSizeBytes()).setSha256(result.getSha256()).build());
            out.onCompleted();
        }
    }
}
