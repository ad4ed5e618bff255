package dev.kelpie.daemon.network;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One sandbox's traffic through its egress proxy, counted by the proxy's event loops and read by stats and usage
 * accounting. Counts start at zero whenever a daemon starts serving the sandbox; cumulative figures are kept in the
 * sandbox's record.
 */
public final class EgressTraffic {

    private final AtomicLong bytesIn = new AtomicLong();
    private final AtomicLong bytesOut = new AtomicLong();
    private final AtomicInteger openConnections = new AtomicInteger();
    private final AtomicLong totalConnections = new AtomicLong();

    /** What the counters say at one moment. */
    public record Snapshot(long bytesIn, long bytesOut, int openConnections, long totalConnections) {
        public static final Snapshot NONE = new Snapshot(0, 0, 0, 0);
    }

    public Snapshot snapshot() {
        return new Snapshot(bytesIn.get(), bytesOut.get(), openConnections.get(), totalConnections.get());
    }

    /** Bytes that reached the guest from outside. */
    public void received(long bytes) {
        bytesIn.addAndGet(bytes);
    }

    /** Bytes the guest sent out. */
    public void sent(long bytes) {
        bytesOut.addAndGet(bytes);
    }

    /** A guest connection opened; returns how many are open now. */
    int connectionOpened() {
        totalConnections.incrementAndGet();
        return openConnections.incrementAndGet();
    }

    void connectionClosed() {
        openConnections.decrementAndGet();
    }
}
