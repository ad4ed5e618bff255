package dev.kelpie.daemon.sandboxes;

import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * Fans state changes out to watchers. Listeners run on the thread that made the change and must not block: a Watch
 * stream hands the event to gRPC's own buffer.
 */
public final class SandboxEvents {

    private final CopyOnWriteArrayList<Consumer<SandboxEvent>> listeners = new CopyOnWriteArrayList<>();

    /** Registers a listener; closing the returned handle removes it. */
    public AutoCloseable subscribe(Consumer<SandboxEvent> listener) {
        listeners.add(listener);
        return () -> listeners.remove(listener);
    }

    void publish(SandboxEvent event) {
        for (Consumer<SandboxEvent> listener : listeners) {
            listener.accept(event);
        }
    }
}
