package dev.kelpie.daemon.sim;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Optional;
import java.util.concurrent.Executor;

/**
 * The daemon's background executor in a simulation: work queues up and runs only when a step of the simulation runs
 * it, in the order it was queued, so a seed decides when agents are re-dialled and the warm pool refills.
 */
final class SimExecutor implements Executor {

    private final Deque<Runnable> queue = new ArrayDeque<>();

    @Override
    public synchronized void execute(Runnable task) {
        queue.addLast(task);
    }

    synchronized Optional<Runnable> next() {
        return Optional.ofNullable(queue.pollFirst());
    }

    synchronized boolean idle() {
        return queue.isEmpty();
    }
}
