package dev.kelpie.daemon.images.pull;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import org.jboss.logging.Logger;

/**
 * Pulls running by key: a pull of a key already running joins it (and hears its progress from then on) rather than
 * starting a second one.
 */
public final class SharedPulls<T> {

    private static final Logger LOG = Logger.getLogger(SharedPulls.class);

    /** The work of one pull, told where it is through {@code progress}. */
    public interface Work<T> {
        T run(Consumer<PullProgress> progress) throws Exception;
    }

    private final Executor executor;
    private final Map<String, Run<T>> running = new ConcurrentHashMap<>();

    public SharedPulls(Executor executor) {
        this.executor = executor;
    }

    /** Starts {@code work} on the executor unless a pull of {@code key} runs; either way {@code progress} hears it. */
    public CompletableFuture<T> join(String key, Consumer<PullProgress> progress, Work<T> work) {
        Run<T> run = running.computeIfAbsent(key, k -> {
            Run<T> started = new Run<>();
            executor.execute(() -> {
                // Leave the map before completing: a caller woken by the result may pull again at once, and must
                // start a new pull rather than join this finished one.
                try {
                    T result = work.run(started::report);
                    running.remove(k, started);
                    started.result.complete(result);
                } catch (Throwable e) {
                    running.remove(k, started);
                    started.result.completeExceptionally(e);
                }
            });
            return started;
        });
        run.listeners.add(progress);
        run.result.whenComplete((r, e) -> run.listeners.remove(progress));
        return run.result;
    }

    /** One running pull and everyone waiting on it. */
    private static final class Run<T> {
        final CompletableFuture<T> result = new CompletableFuture<>();
        final List<Consumer<PullProgress>> listeners = new CopyOnWriteArrayList<>();

        void report(PullProgress progress) {
            for (Consumer<PullProgress> listener : listeners) {
                try {
                    listener.accept(progress);
                } catch (RuntimeException e) {
                    LOG.debugf("a pull progress listener failed: %s", e.getMessage());
                }
            }
        }
    }
}
