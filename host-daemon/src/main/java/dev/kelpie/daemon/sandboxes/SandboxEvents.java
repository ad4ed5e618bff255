package dev.kelpie.daemon.sandboxes;

import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.jboss.logging.Logger;

/**
 * Fans state changes out to watchers. Listeners run on the thread that made the change and must not block: a Watch
 * stream hands the event to gRPC's own buffer. A listener that throws is logged and skipped: a broken watcher must not
 * fail the change it watches, nor keep the other watchers from hearing of it.
 */
public final class SandboxEvents {

    private static final Logger LOG = Logger.getLogger(SandboxEvents.class);

    private record Subscription(Consumer<SandboxEvent> listener, Runnable onClose) {}

    private final CopyOnWriteArrayList<Subscription> subscriptions = new CopyOnWriteArrayList<>();

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

    void publish(SandboxEvent event) {
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
