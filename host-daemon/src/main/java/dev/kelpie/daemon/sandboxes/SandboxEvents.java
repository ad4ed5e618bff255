package dev.kelpie.daemon.sandboxes;

import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import org.jboss.logging.Logger;

/**
 * Fans state changes out to watchers, in the order the changes were made. A change is queued under its sandbox's
 * monitor and delivered after the monitor is released, so a listener never runs inside the daemon's locks; whichever
 * thread finds the queue free delivers everything queued, one event at a time. Listeners must not block: a Watch stream
 * hands the event to gRPC's own buffer. A listener that throws is logged and skipped: a broken watcher must not fail
 * the change it watches, nor keep the other watchers from hearing of it.
 */
public final class SandboxEvents {

    private static final Logger LOG = Logger.getLogger(SandboxEvents.class);

    private record Subscription(Consumer<SandboxEvent> listener, Runnable onClose) {}

    private final CopyOnWriteArrayList<Subscription> subscriptions = new CopyOnWriteArrayList<>();
    private final Queue<SandboxEvent> queue = new ConcurrentLinkedQueue<>();
    private final ReentrantLock delivering = new ReentrantLock();

    /** Registers a listener; closing the returned handle removes it. */
    public AutoCloseable subscribe(Consumer<SandboxEvent> listener) {
        return subscribe(listener, () -> { });
    }

    /**
     * Registers a listener and what to do when the daemon stops publishing (at shutdown), e.g. end a Watch stream
     * with a status. Closing the returned handle removes it.
     */
    public AutoCloseable subscribe(Consumer<SandboxEvent> listener, Runnable onClose) {
        Subscription subscription = new Subscription(listener, onClose);
        subscriptions.add(subscription);
        return () -> subscriptions.remove(subscription);
    }

    /** Queues an event; call while holding the lock that ordered the change. */
    void enqueue(SandboxEvent event) {
        queue.add(event);
    }

    /** Delivers what is queued, unless another thread is delivering (it then delivers ours too). */
    void deliver() {
        while (!queue.isEmpty()) {
            if (!delivering.tryLock()) {
                return;
            }
            try {
                for (SandboxEvent event = queue.poll(); event != null; event = queue.poll()) {
                    fanOut(event);
                }
            } finally {
                delivering.unlock();
            }
        }
    }

    void publish(SandboxEvent event) {
        enqueue(event);
        deliver();
    }

    private void fanOut(SandboxEvent event) {
        for (Subscription s : subscriptions) {
            try {
                s.listener().accept(event);
            } catch (RuntimeException e) {
                LOG.errorf(e, "a listener of sandbox %s's events failed on %s -> %s", event.sandbox().id(),
                        event.previousState(), event.sandbox().state());
            }
        }
    }

    /** Ends every subscription: no more events will come. */
    void close() {
        for (Subscription s : subscriptions) {
            subscriptions.remove(s);
            s.onClose().run();
        }
    }
}
