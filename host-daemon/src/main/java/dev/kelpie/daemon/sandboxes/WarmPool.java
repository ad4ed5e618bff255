package dev.kelpie.daemon.sandboxes;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Optional;
import java.util.concurrent.Executor;
import org.jboss.logging.Logger;

/**
 * Booted VMs with a proven agent, waiting to become sandboxes, for one (image, arch, shape). Refilled in the
 * background after every take; a VM serves exactly one sandbox and is never returned here. Pooled VMs have no
 * record: a restarted daemon kills them and boots fresh ones.
 */
final class WarmPool {

    private static final Logger LOG = Logger.getLogger(WarmPool.class);

    /** Boots one VM for the pool; throws when it cannot. */
    @FunctionalInterface
    interface Booter {
        PooledVm boot(PoolKey key) throws InterruptedException;
    }

    /** What a pool's VMs look like. */
    record PoolKey(String imageVersion, String arch, int vcpuCount, int memoryMib) {}

    /** Counters and sizes for Host.Info and metrics. */
    record Status(PoolKey key, int targetSize, int ready, int booting, long takenTotal, long failedBootsTotal,
            String lastError) {}

    private final PoolKey key;
    private final int targetSize;
    private final Booter booter;
    private final Executor background;
    private final Deque<PooledVm> ready = new ArrayDeque<>();
    private int booting;
    private long takenTotal;
    private long failedBootsTotal;
    private String lastError = "";
    private boolean closed;

    WarmPool(PoolKey key, int targetSize, Booter booter, Executor background) {
        this.key = key;
        this.targetSize = targetSize;
        this.booter = booter;
        this.background = background;
    }

    PoolKey key() {
        return key;
    }

    /** A ready VM if one is waiting; starts a refill either way. */
    Optional<PooledVm> take() {
        PooledVm vm;
        synchronized (this) {
            vm = ready.pollFirst();
            if (vm != null) {
                takenTotal++;
            }
        }
        refill();
        return Optional.ofNullable(vm);
    }

    /** Starts boots until ready plus booting VMs reach the target size. */
    void refill() {
        while (true) {
            synchronized (this) {
                if (closed || ready.size() + booting >= targetSize) {
                    return;
                }
                booting++;
            }
            background.execute(this::bootOne);
        }
    }

    private void bootOne() {
        try {
            PooledVm vm = booter.boot(key);
            boolean keep;
            synchronized (this) {
                keep = !closed;
                if (keep) {
                    ready.addLast(vm);
                }
            }
            if (keep) {
                vm.vm().exited().thenRun(() -> evictDead(vm));
            } else {
                vm.discard().run();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            synchronized (this) {
                failedBootsTotal++;
                lastError = e.getMessage();
            }
            LOG.errorf("warm pool %s: a refill boot failed: %s", key, e.getMessage());
            return; // no retry loop: the next take or the reaper tick refills again
        } finally {
            synchronized (this) {
                booting--;
            }
        }
    }

    /** A waiting VM that died is of no use: it leaves the pool, its files go, and a fresh one boots in its place. */
    private void evictDead(PooledVm vm) {
        boolean evicted;
        synchronized (this) {
            evicted = ready.remove(vm);
            if (evicted) {
                lastError = "pooled VM " + vm.id() + " (" + vm.vm().describe() + ") exited while waiting";
            }
        }
        if (evicted) {
            LOG.warnf("warm pool %s: pooled VM %s exited while waiting; booting a replacement", key, vm.id());
            vm.discard().run();
            refill();
        }
    }

    synchronized Status status() {
        return new Status(key, targetSize, ready.size(), booting, takenTotal, failedBootsTotal, lastError);
    }

    synchronized long memoryMib() {
        return (long) (ready.size() + booting) * key.memoryMib();
    }

    /** Stops refilling and destroys the waiting VMs (they have no records, so nobody else would). */
    void close() {
        Deque<PooledVm> drained;
        synchronized (this) {
            closed = true;
            drained = new ArrayDeque<>(ready);
            ready.clear();
        }
        drained.forEach(vm -> vm.discard().run());
    }
}
