package dev.kelpie.daemon.sim;

import dev.kelpie.api.v1.ExecResponse;
import dev.kelpie.daemon.sandboxes.InProcessAgents.RunningExec;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** An API client's Exec stream in a simulation, counting how it ended: exactly once is the only right answer. */
final class ClientExec implements StreamObserver<ExecResponse> {

    final String name;
    final String sandboxId;
    final Faults.Life life;
    final long startedAtMs;
    final long timeoutMs;
    /** The agent's process, once the call reached it. */
    volatile RunningExec process;
    private final AtomicInteger endings = new AtomicInteger();
    private final CountDownLatch ended = new CountDownLatch(1);
    private volatile boolean sawExit;
    private volatile Status status;

    ClientExec(String name, String sandboxId, Faults.Life life, long startedAtMs, long timeoutMs) {
        this.name = name;
        this.sandboxId = sandboxId;
        this.life = life;
        this.startedAtMs = startedAtMs;
        this.timeoutMs = timeoutMs;
    }

    @Override
    public void onNext(ExecResponse response) {
        if (response.getEvent().hasExit()) {
            sawExit = true;
        }
    }

    @Override
    public void onError(Throwable t) {
        status = Status.fromThrowable(t);
        endings.incrementAndGet();
        ended.countDown();
    }

    @Override
    public void onCompleted() {
        status = Status.OK;
        endings.incrementAndGet();
        ended.countDown();
    }

    /** Waits until the stream has ended once; false if it has not by {@code deadline}. */
    boolean awaitEnd(Duration deadline) throws InterruptedException {
        return ended.await(deadline.toMillis(), TimeUnit.MILLISECONDS);
    }

    int endings() {
        return endings.get();
    }

    boolean sawExit() {
        return sawExit;
    }

    Status status() {
        return status;
    }

    /** Whether the stream has to have ended by now: its process ended, it never reached one, or its daemon died. */
    boolean mustHaveEnded() {
        RunningExec p = process;
        return p == null || p.ended() || life.dead();
    }
}
