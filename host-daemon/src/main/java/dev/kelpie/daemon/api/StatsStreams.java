package dev.kelpie.daemon.api;

import dev.kelpie.api.v1.SandboxStatsRequest;
import dev.kelpie.api.v1.SandboxStatsResponse;
import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.sandboxes.SandboxState;
import dev.kelpie.daemon.stats.CpuRate;
import dev.kelpie.daemon.stats.SandboxStatsSample;
import dev.kelpie.daemon.stats.SandboxStatsSampler;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.concurrent.TimeUnit;

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

    StatsStreams(SandboxStatsSampler sampler) {
        this.sampler = sampler;
    }

    /** The interval a request asks for, within the bounds. */
    static long intervalMs(int requestedMs) {
        long asked = Integer.toUnsignedLong(requestedMs);
        return asked == 0 ? SAMPLE_INTERVAL_DEFAULT_MS : Math.max(SAMPLE_INTERVAL_MIN_MS, asked);
    }

    void stream(SandboxStatsRequest request, ServerCallStreamObserver<SandboxStatsResponse> out) {
        long intervalMs = intervalMs(request.getIntervalMs());
        Thread sampling = Thread.ofVirtual().name("kelpie-stats-" + request.getId()).unstarted(
                () -> run(request.getId(), intervalMs, out));
        out.setOnCancelHandler(sampling::interrupt);
        sampling.start();
    }

    private void run(String id, long intervalMs, ServerCallStreamObserver<SandboxStatsResponse> out) {
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
                                .map(p -> rate.next(sample.vmPid(), p.cpuSeconds(), System.nanoTime())).orElse(0.0)))
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
            // cancelled by the client (or the server's shutdown): nothing to send
        } catch (RuntimeException e) {
            synchronized (out) {
                if (!out.isCancelled()) {
                    out.onError(GrpcErrors.toStatus(e));
                }
            }
        }
    }
}
