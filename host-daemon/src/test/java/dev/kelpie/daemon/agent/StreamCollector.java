package dev.kelpie.daemon.agent;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/** Collects a server stream and completes when it ends, with the messages and the final status. */
public final class StreamCollector<T> implements StreamObserver<T> {

    /** Everything a finished stream delivered. */
    public record Outcome<T>(List<T> messages, Status status) {}

    private final List<T> messages = new CopyOnWriteArrayList<>();
    private final CompletableFuture<Outcome<T>> done = new CompletableFuture<>();

    /** The stream has ended. */
    public boolean isDone() {
        return done.isDone();
    }

    /** What arrived so far. */
    public List<T> messages() {
        return List.copyOf(messages);
    }

    @Override
    public void onNext(T value) {
        messages.add(value);
    }

    @Override
    public void onError(Throwable t) {
        done.complete(new Outcome<>(List.copyOf(messages), Status.fromThrowable(t)));
    }

    @Override
    public void onCompleted() {
        done.complete(new Outcome<>(List.copyOf(messages), Status.OK));
    }

    public Outcome<T> await(Duration timeout) throws Exception {
        return done.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }
}
