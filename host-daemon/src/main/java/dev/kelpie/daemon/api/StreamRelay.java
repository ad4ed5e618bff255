package dev.kelpie.daemon.api;

import dev.kelpie.daemon.errors.ErrorKind;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.ServerCallStreamObserver;
import com.google.common.util.concurrent.MoreExecutors;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * Relays an agent's response stream to an API client with end-to-end flow control: a few agent messages are requested
 * ahead, and each one forwarded is replaced only while the client's stream can take more, so a slow client slows the
 * agent (and so the guest process) instead of filling the daemon's memory, while a fast one never waits for a request
 * to travel to the agent's connection and back between two messages. A client that cancels cancels the agent call, which kills the process
 * unless it was started detached.
 *
 * <p>Exactly one terminal signal reaches the client: completion after the agent's final event, or an error status.
 * An agent stream that ends without a final event (the VM died, the session broke) becomes UNAVAILABLE, explained by
 * {@code failureExplanation}.
 *
 * <p>{@code translate} may throw a {@link StatusRuntimeException} for a message that ends the stream as a failure.
 *
 * @param <Q> agent request type
 * @param <A> agent response type
 * @param <P> API response type
 */
final class StreamRelay<Q, A, P> implements ClientResponseObserver<Q, A> {

    /**
     * Agent messages requested ahead of the client: an exec's Started and Exited arrive without a request between
     * them, and a stream of the agent's 64 KiB output chunks keeps 256 KiB on the way besides what HTTP/2's window
     * holds. A client that stopped reading leaves at most this many messages queued in the daemon (4 MiB of 1 MiB
     * file chunks).
     */
    static final int AGENT_MESSAGES_AHEAD = 4;
    /**
     * How much the client's stream may hold queued before it counts as not ready. gRPC's default (32 KiB) is less than
     * one output chunk, so every chunk would wait for the one before it to reach the socket.
     */
    static final int CLIENT_QUEUE_BYTES = 1024 * 1024;
    /**
     * Where Exec's agent calls deliver their callbacks (ExecInteractive, Attach and ReadFile still use gRPC's
     * executor): on the agent connection's event loop, which is where the
     * message was read. Handing each message to another thread first cost a thread wake-up per message, on every exec;
     * what the relay does with a message (translate it, queue it for the client, ask for one more) never blocks, and
     * a broken stream's explanation is a future (AgentStreamErrors).
     */
    static final Executor AGENT_CALLBACKS = MoreExecutors.directExecutor();

    private final ServerCallStreamObserver<P> downstream;
    private final Function<A, Optional<P>> translate;
    private final Predicate<A> isFinal;
    private final Function<Throwable, CompletableFuture<StatusRuntimeException>> errors;
    private final Runnable onEnd;
    private ClientCallStreamObserver<Q> upstream;
    private Runnable onUpstreamReady = () -> { };
    /** What {@link #startWhen} waits for, until it is there; a client that cancels stops the wait. */
    private CompletableFuture<?> awaited;
    private boolean cancelled;
    /** Agent messages forwarded while the client was not ready, to be requested once it is. */
    private int owed;
    private boolean sawFinal;
    private boolean ended;

    /**
     * @param isFinal whether an agent message is the stream's final event; null when a stream that completes is whole
     *     (e.g. a file read)
     * @param errors maps an agent-side failure to the status the client sees; it may take a moment (see {@link
     *     AgentStreamErrors}), so it answers with a future and never holds the thread that reported the failure
     * @param onEnd runs once when the relay ends, however
     */
    StreamRelay(ServerCallStreamObserver<P> downstream, Function<A, Optional<P>> translate, Predicate<A> isFinal,
            Function<Throwable, CompletableFuture<StatusRuntimeException>> errors, Runnable onEnd) {
        this.downstream = downstream;
        this.translate = translate;
        this.isFinal = isFinal;
        this.errors = errors;
        this.onEnd = onEnd;
        // Both handlers must be set while the service method runs; they fire on the server's threads.
        downstream.setOnCancelHandler(this::clientCancelled);
        downstream.setOnReadyHandler(this::clientReady);
        downstream.setOnReadyThreshold(CLIENT_QUEUE_BYTES);
    }

    /** Starts the agent call; {@code call} passes this relay as the response observer. */
    void start(Consumer<ClientResponseObserver<Q, A>> call) {
        synchronized (this) {
            if (cancelled) {
                return;
            }
        }
        call.accept(this);
        // A client that cancelled while the call was being made found no agent call to cancel: cancel it now.
        ClientCallStreamObserver<Q> made;
        synchronized (this) {
            made = cancelled ? upstream : null;
        }
        if (made != null) {
            made.cancel("the API client cancelled", null);
        }
    }

    /**
     * Starts the agent call once {@code agent} (the sandbox's session, which may still be dialled) is there, or fails
     * the relay with why it is not. Nothing waits on the caller's thread, a stream callback; a call whose session is not up
     * yet is started on a {@link Continuations} thread. A client that cancels meanwhile stops the wait, and no agent call is made for it.
     */
    <C> void startWhen(CompletableFuture<C> agent, BiConsumer<C, ClientResponseObserver<Q, A>> call) {
        synchronized (this) {
            if (cancelled) {
                agent.cancel(false);
                return;
            }
            awaited = agent;
        }
        Continuations.whenDone(agent, (channel, error) -> {
            synchronized (this) {
                awaited = null;
            }
            if (error != null) {
                fail(error); // a no-op when the client cancelled: the relay has ended
                return;
            }
            try {
                start(observer -> call.accept(channel, observer));
            } catch (RuntimeException e) {
                // On a continuation thread nobody would see it: the client gets the status (a no-op if it cancelled).
                fail(e);
            }
        });
    }

    /** Ends the relay with an error found before the agent call started (unknown sandbox, bad request, ...). */
    void fail(Throwable error) {
        if (markEnded()) {
            downstream.onError(GrpcErrors.toStatus(error));
        }
    }

    /** Runs whenever the agent call can take more requests (input after the start); set before {@link #start}. */
    synchronized void onUpstreamReady(Runnable handler) {
        onUpstreamReady = handler;
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<Q> requestStream) {
        requestStream.disableAutoRequestWithInitial(AGENT_MESSAGES_AHEAD);
        Runnable ready;
        synchronized (this) {
            upstream = requestStream;
            ready = onUpstreamReady;
        }
        requestStream.setOnReadyHandler(ready);
    }

    /** The agent request stream, for callers that send input after the start message. */
    synchronized ClientCallStreamObserver<Q> upstream() {
        return upstream;
    }

    @Override
    public void onNext(A message) {
        if (isFinal == null || isFinal.test(message)) {
            synchronized (this) {
                sawFinal = true;
            }
        }
        Optional<P> out;
        try {
            out = translate.apply(message);
        } catch (StatusRuntimeException finalError) {
            // A final event that is a failure (e.g. exec(2) failed): it ends the client's stream as a status.
            ClientCallStreamObserver<Q> call = upstream();
            if (markEnded()) {
                downstream.onError(finalError);
            }
            call.cancel("relayed the final failure", null);
            return;
        }
        // No check of downstream.isCancelled() and no watch for a stalled client: grpc-java's server always runs the
        // cancel handler, even for a client that stopped reading (ADR 0023).
        synchronized (this) {
            if (ended || cancelled) {
                return;
            }
            out.ifPresent(downstream::onNext);
            if (downstream.isReady()) {
                upstream.request(1);
            } else {
                owed++;
            }
        }
    }

    private void clientReady() {
        synchronized (this) {
            if (owed > 0 && !ended && downstream.isReady()) {
                upstream.request(owed);
                owed = 0;
            }
        }
    }

    private void clientCancelled() {
        ClientCallStreamObserver<Q> call;
        CompletableFuture<?> waiting;
        synchronized (this) {
            cancelled = true;
            call = upstream;
            waiting = awaited;
        }
        if (waiting != null) {
            waiting.cancel(false);
        }
        if (call != null) {
            call.cancel("the API client cancelled", null);
        }
        markEnded();
    }

    @Override
    public void onError(Throwable t) {
        if (markEnded()) {
            sendError(errors.apply(t));
        }
    }

    @Override
    public void onCompleted() {
        boolean whole;
        synchronized (this) {
            whole = sawFinal || isFinal == null;
        }
        if (!markEnded()) {
            return;
        }
        if (whole) {
            downstream.onCompleted();
        } else {
            sendError(errors.apply(GrpcErrors.of(ErrorKind.UNREACHABLE, "the agent ended the stream without a final status")));
        }
    }

    /** Sends the status once it is known; the relay has ended, so nothing else writes to the client meanwhile. */
    private void sendError(CompletableFuture<StatusRuntimeException> status) {
        status.whenComplete((s, failure) -> downstream.onError(s != null ? s : GrpcErrors.toStatus(failure)));
    }

    private boolean markEnded() {
        synchronized (this) {
            if (ended) {
                return false;
            }
            ended = true;
        }
        onEnd.run();
        return true;
    }
}
