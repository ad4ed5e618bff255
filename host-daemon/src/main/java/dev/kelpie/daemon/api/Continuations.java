package dev.kelpie.daemon.api;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.function.BiConsumer;

/**
 * Where the API's asynchronous steps continue (an agent session that came up, a broken stream explained): a virtual
 * thread each, never the thread that completed the future, which may be a Netty event loop, the agent channel's
 * callback thread or the JDK's single timeout thread, none of which may run our code for long.
 */
final class Continuations {

    /** One virtual thread per step (a per-task executor holds no idle threads, so it is never closed). */
    static final Executor EXECUTOR = Executors.newThreadPerTaskExecutor(
            Thread.ofVirtual().name("kelpie-api-continuation-", 0).factory());

    private Continuations() {}

    /**
     * Runs {@code step} with the future's outcome: at once on this thread when the future is already complete (the
     * usual case: a sandbox whose agent session is up; nothing then waits), else on a virtual thread when it completes.
     */
    static <T> void whenDone(CompletableFuture<T> future, BiConsumer<? super T, ? super Throwable> step) {
        if (!future.isDone()) {
            future.whenCompleteAsync(step, EXECUTOR);
            return;
        }
        T value;
        try {
            value = future.join();
        } catch (CompletionException | java.util.concurrent.CancellationException e) {
            step.accept(null, e);
            return;
        }
        step.accept(value, null);
    }
}
