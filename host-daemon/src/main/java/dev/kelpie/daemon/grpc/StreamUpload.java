package dev.kelpie.daemon.grpc;

import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * One client-streaming call that uploads: messages are sent as fast as the transport takes them and no faster, and
 * the receiver's single answer ends it. Pass it as the response observer when starting the call, then
 * {@link #send} from one thread, {@link #finish} and take the {@link #answer}; {@link #cancel} on a failure.
 *
 * @param <Q> the request message
 * @param <R> the answer
 */
public final class StreamUpload<Q, R> implements ClientResponseObserver<Q, R> {

    private final String receiver;
    private final CompletableFuture<R> answer = new CompletableFuture<>();
    private ClientCallStreamObserver<Q> call;
    private ReadySignal ready;

    /** @param receiver who answers, for messages ("the agent") */
    public StreamUpload(String receiver) {
        this.receiver = receiver;
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<Q> requests) {
        call = requests;
        ready = new ReadySignal(requests);
    }

    @Override
    public void onNext(R value) {
        answer.complete(value);
    }

    @Override
    public void onError(Throwable t) {
        answer.completeExceptionally(t);
        ready.wake();
    }

    @Override
    public void onCompleted() {
        answer.completeExceptionally(new IOException(receiver + " ended the call without an answer"));
        ready.wake();
    }

    /** Whether the receiver has answered or failed already: it reads nothing more. */
    public boolean answered() {
        return answer.isDone();
    }

    /** Sends once the transport takes more; a receiver that has answered already gets nothing more. */
    public void send(Q message) throws InterruptedException {
        ready.awaitReady(answer::isDone);
        if (!answer.isDone()) {
            call.onNext(message);
        }
    }

    /** Everything is sent. */
    public void finish() {
        call.onCompleted();
    }

    /** Ends the call at the receiver because the sender failed. */
    public void cancel(Throwable cause) {
        call.cancel("upload aborted: " + cause.getMessage(), cause);
    }

    /**
     * Waits for the receiver's answer; the call's deadline, if it has one, bounds the wait.
     *
     * @throws RuntimeException as the call failed (a {@link io.grpc.StatusRuntimeException} with the receiver's status)
     */
    public R answer() throws IOException, InterruptedException {
        try {
            return answer.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new IOException(receiver + " failed: " + e.getCause().getMessage(), e.getCause());
        }
    }
}
