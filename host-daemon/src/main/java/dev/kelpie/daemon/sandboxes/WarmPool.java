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
 *
 * <p>Pooled VMs count against the host's limits like sandboxes: a refill boots only while {@link Room} says one more
 * fits, and a create that needs their room drains waiting VMs first ({@link #drainOne}). The pool's state is guarded by
 * the lock admission holds, so that admitting a sandbox and growing the pool are decided one at a time.
 */
final class WarmPool {

    private static final Logger LOG = Logger.getLogger(WarmPool.class);

    /** Boots one VM for the pool; throws when it cannot. */
    @FunctionalInterface
    interface Booter {
        PooledVm boot(PoolKey key) throws InterruptedException;
    }

    /** Whether one more pooled VM fits on the host; asked under the shared lock. */
    @FunctionalInterface
    interface Room {
        boolean fitsOneMore(PoolKey key);
    }

    /**
     * What a pool's VMs look like.
     *
     * @param diskSizeMib the writable disk's size: the image's template size, as pooled VMs boot with no request
     * @param ociDigest the manifest digest of the OCI image whose root the VMs boot; empty for the base image's root
     */
    record PoolKey(String imageVersion, String arch, int vcpuCount, int memoryMib, long diskSizeMib, String ociDigest) {

        PoolKey(String imageVersion, String arch, int vcpuCount, int memoryMib, long diskSizeMib) {
            this(imageVersion, arch, vcpuCount, memoryMib, diskSizeMib, "");
        }
    }

    /** Counters and sizes for Host.Info and metrics. */
    record Status(PoolKey key, int targetSize, int ready, int booting, long takenTotal, long failedBootsTotal,
            String lastError) {}

    private final PoolKey key;
    private final int targetSize;
    private final Booter booter;
    private final Executor background;
    private final Object lock;
    private final Room room;
    private final Deque<PooledVm> ready = new ArrayDeque<>();
    private int booting;
    private long takenTotal;
    private long failedBootsTotal;
    private String lastError = "";
    private boolean closed;

    WarmPool(PoolKey key, int targetSize, Booter booter, Executor background, Object lock, Room room) {
        this.lock = lock;
        this.room = room;
        this.key = key;
        this.targetSize = targetSize;
        this.booter = booter;
        this.background = background;
    }

    PoolKey key() {
        return key;
    }

    /** A ready VM if one is waiting; the caller refills once it has counted the VM as its own. */
    Optional<PooledVm> take() {
        synchronized (lock) {
            PooledVm vm = ready.pollFirst();
            if (vm != null) {
                takenTotal++;
            }
            return Optional.ofNullable(vm);
        }
    }

    /** Removes a waiting VM to make room for a sandbox; the caller discards it. */
    Optional<PooledVm> drainOne() {
        synchronized (lock) {
            return Optional.ofNullable(ready.pollLast());
        }
    }

    /** Starts boots until ready plus booting VMs reach the target size, as far as the host has room. */
    void refill() {
        while (true) {
            synchronized (lock) {
                if (closed || ready.size() + booting >= targetSize || !room.fitsOneMore(key)) {
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
            synchronized (lock) {
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
            synchronized (lock) {
                failedBootsTotal++;
                lastError = e.getMessage();
            }
            LOG.errorf("warm pool %s: a refill boot failed: %s", key, e.getMessage());
            return; // no retry loop: the next take or the reaper tick refills again
        } finally {
            synchronized (lock) {
                booting--;
            }
        }
    }

    /** A waiting VM that died is of no use: it leaves the pool, its files go, and a fresh one boots in its place. */
    private void evictDead(PooledVm vm) {
        boolean evicted;
        synchronized (lock) {
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

    Status status() {
        synchronized (lock) {
            return new Status(key, targetSize, ready.size(), booting, takenTotal, failedBootsTotal, lastError);
        }
    }

    /** VMs waiting or booting: what the pool holds of the host. */
    int vmCount() {
        synchronized (lock) {
            return ready.size() + booting;
        }
    }

    long memoryMib() {
        return (long) vmCount() * key.memoryMib();
    }

    /** Stops refilling and destroys the waiting VMs (they have no records, so nobody else would). */
    void close() {
        Deque<PooledVm> drained;
        synchronized (lock) {
            closed = true;
            drained = new ArrayDeque<>(ready);
            ready.clear();
        }
        drained.forEach(vm -> vm.discard().run());
    }
}
