package dev.kelpie.daemon.grpc;

import io.grpc.stub.CallStreamObserver;
import java.util.function.BooleanSupplier;

/**
 * Holds a thread that sends on a gRPC stream until the transport takes more, so a slow receiver slows the sender
 * instead of filling its heap. The stream's on-ready handler wakes it; so must whatever else ends the wait (a
 * cancellation, the receiver's answer), through {@link #wake}.
 *
 * <p>gRPC runs a call's callbacks one at a time, so the on-ready handler only runs while the service or client code
 * that set it is not itself blocked in a callback: the sending thread must be a thread of its own.
 */
public final class ReadySignal {

    /** The handlers wake the sender; the timed wait only guards against a missed wake-up. */
    private static final long RECHECK_MS = 1_000;

    private final CallStreamObserver<?> stream;
    private final Object lock = new Object();

    /** Sets the stream's on-ready handler: call where gRPC allows that (before a server method or a call returns). */
    public ReadySignal(CallStreamObserver<?> stream) {
        this.stream = stream;
        stream.setOnReadyHandler(this::wake);
    }

    public void wake() {
        synchronized (lock) {
            lock.notifyAll();
        }
    }

    /** Returns once the transport takes more or {@code stop} holds; {@code stop} must be woken for, too. */
    public void awaitReady(BooleanSupplier stop) throws InterruptedException {
        synchronized (lock) {
            while (!stream.isReady() && !stop.getAsBoolean()) {
                lock.wait(RECHECK_MS);
            }
        }
    }
}
