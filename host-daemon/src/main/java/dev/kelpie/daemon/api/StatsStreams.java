package dev.kelpie.daemon.api;

import dev.kelpie.api.v1.SandboxStatsRequest;
import dev.kelpie.api.v1.SandboxStatsResponse;
import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.sandboxes.SandboxEvents;
import dev.kelpie.daemon.sandboxes.SandboxState;
import dev.kelpie.daemon.stats.CpuRate;
import dev.kelpie.daemon.stats.SandboxStatsSample;
import dev.kelpie.daemon.stats.SandboxStatsSampler;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Sandboxes/Stats: one virtual thread per stream samples the sandbox, sends the sample, and sleeps to the next
 * interval, until the client cancels or the sandbox is gone (NOT_FOUND) or failed (FAILED_PRECONDITION).
 */
final class StatsStreams {

    /** Below this, sampling (a few /proc reads, a du, an agent call) would cost more than it tells. */
    static final long SAMPLE_INTERVAL_MIN_MS = 250;
    /** What interval_ms 0 means: docker stats's pace. */
    static final long SAMPLE_INTERVAL_DEFAULT_MS = 1_000;

    private final SandboxStatsSampler sampler;
    private final SandboxEvents events;

    StatsStreams(SandboxStatsSampler sampler, SandboxEvents events) {
        this.sampler = sampler;
        this.events = events;
    }

    /** The interval a request asks for, within the bounds. */
    static long intervalMs(int requestedMs) {
        long asked = Integer.toUnsignedLong(requestedMs);
        return asked == 0 ? SAMPLE_INTERVAL_DEFAULT_MS : Math.max(SAMPLE_INTERVAL_MIN_MS, asked);
    }

    void stream(SandboxStatsRequest request, ServerCallStreamObserver<SandboxStatsResponse> out) {
        long intervalMs = intervalMs(request.getIntervalMs());
        AtomicBoolean shuttingDown = new AtomicBoolean();
        AtomicReference<Thread> sampling = new AtomicReference<>();
        // Like Watch: a daemon that stops ends the stream at once and says why, instead of holding its shutdown.
        AutoCloseable subscription = events.subscribe(event -> { }, () -> {
            shuttingDown.set(true);
            sampling.get().interrupt();
        });
        sampling.set(Thread.ofVirtual().name("kelpie-stats-" + request.getId()).unstarted(() -> {
            try {
                run(request.getId(), intervalMs, out, shuttingDown);
            } finally {
                closeQuietly(subscription);
            }
        }));
        out.setOnCancelHandler(() -> sampling.get().interrupt());
        sampling.get().start();
    }

    private void run(String id, long intervalMs, ServerCallStreamObserver<SandboxStatsResponse> out,
            AtomicBoolean shuttingDown) {
        CpuRate rate = new CpuRate();
        long guestTimeoutMs = Math.min(intervalMs, SandboxStatsSampler.GUEST_STATS_TIMEOUT_MS);
        long nextNanos = System.nanoTime();
        try {
            while (!out.isCancelled()) {
                SandboxStatsSample sample = sampler.sample(id, guestTimeoutMs);
                if (sample.record().state() == SandboxState.FAILED) {
                    throw GrpcErrors.of(ErrorKind.WRONG_STATE, "sandbox " + id + " failed: "
                            + sample.record().failureReason());
                }
                SandboxStatsResponse response = SandboxStatsResponse.newBuilder()
                        .setStats(StatsMapper.toProto(sample, sample.vmProcess()
                                .map(p -> rate.next(sample.vmPid(), p.cpuSeconds(), sample.vmProcessReadAtNanos())).orElse(0.0)))
                        .build();
                synchronized (out) {
                    if (out.isCancelled()) {
                        return;
                    }
                    out.onNext(response);
                }
                nextNanos += TimeUnit.MILLISECONDS.toNanos(intervalMs);
                long waitNanos = nextNanos - System.nanoTime();
                if (waitNanos > 0) {
                    TimeUnit.NANOSECONDS.sleep(waitNanos);
                } else {
                    nextNanos = System.nanoTime(); // a slow sample delays the next one; samples never bunch up
                }
            }
        } catch (InterruptedException e) {
            if (shuttingDown.get()) {
                fail(out, GrpcErrors.of(ErrorKind.UNREACHABLE, "kelpied is shutting down; ask for stats again after it"
                        + " restarts"));
            } // else cancelled by the client: nothing to send
        } catch (RuntimeException e) {
            fail(out, GrpcErrors.toStatus(e));
        }
    }

    private static void fail(ServerCallStreamObserver<SandboxStatsResponse> out, RuntimeException status) {
        synchronized (out) {
            if (!out.isCancelled()) {
                out.onError(status);
            }
        }
    }

    private static void closeQuietly(AutoCloseable subscription) {
        try {
            subscription.close();
        } catch (Exception e) {
            // removing a listener from a list does not fail
        }
    }
}
