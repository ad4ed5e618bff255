package dev.kelpie.daemon.sandboxes;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.function.Function;
import org.jboss.logging.Logger;

/**
 * The host's room for VMs, shared by sandboxes and the warm pool: admits a sandbox and registers it as one decision,
 * lets the pool grow only into room nobody needs, and drains waiting pool VMs when a create needs their room. One lock
 * orders all of these decisions.
 */
final class Capacity {

    private static final Logger LOG = Logger.getLogger(Capacity.class);

    private final Admission admission;
    private final SandboxRegistry registry;
    private final Object lock = new Object();
    private volatile WarmPool pool;

    Capacity(SandboxLimits limits, SandboxRegistry registry) {
        this.admission = new Admission(limits);
        this.registry = registry;
    }

    /** Rejects a shape no host of this configuration would ever run. */
    void checkShape(SandboxConfig config) {
        admission.checkShape(config);
    }

    /** Starts a warm pool of {@code size} VMs of {@code key}'s shape, filled as far as the host has room. */
    void startPool(WarmPool.PoolKey key, int size, WarmPool.Booter booter, Executor background) {
        WarmPool started = new WarmPool(key, size, booter, background, lock, this::fitsPooledVm);
        pool = started;
        started.refill();
    }

    /** Under {@link #lock}: whether one more pooled VM fits beside the sandboxes and the pool. */
    private boolean fitsPooledVm(WarmPool.PoolKey key) {
        WarmPool p = pool;
        return admission.shortfall(key.memoryMib(), registry.reservingRoom(), p.vmCount(), p.memoryMib()).isEmpty();
    }

    /**
     * Admits a sandbox of {@code config} and adds the sandbox {@code newSandbox} builds to the registry, as one
     * decision. A waiting pooled VM of shape {@code wanted} (null: none may serve) is taken and handed to
     * {@code newSandbox}; when the host is full, waiting pool VMs are drained to make room, but only when that is
     * enough.
     *
     * @return the pooled VM taken, which now belongs to the new sandbox
     * @throws AdmissionDeniedException when the sandbox does not fit even without the waiting pool VMs
     */
    Optional<PooledVm> admit(SandboxConfig config, WarmPool.PoolKey wanted, Function<Optional<PooledVm>, Sandbox> newSandbox) {
        List<PooledVm> drained = new ArrayList<>();
        Optional<PooledVm> taken = Optional.empty();
        try {
            synchronized (lock) {
                WarmPool p = pool;
                taken = p != null && p.key().equals(wanted) ? p.take() : Optional.empty();
                Optional<String> shortfall = shortfall(config, p);
                if (shortfall.isPresent() && p != null && canFitWithoutWaitingVms(config, p)) {
                    while (shortfall.isPresent()) {
                        drained.add(p.drainOne().orElseThrow());
                        shortfall = shortfall(config, p);
                    }
                }
                if (shortfall.isPresent()) {
                    throw new AdmissionDeniedException(shortfall.get());
                }
                registry.add(newSandbox.apply(taken));
            }
        } catch (RuntimeException e) {
            taken.ifPresent(vm -> vm.discard().run());
            throw e;
        } finally {
            if (!drained.isEmpty()) {
                LOG.infof("drained %d waiting warm-pool VMs to make room for a sandbox", drained.size());
                drained.forEach(vm -> vm.discard().run());
            }
        }
        if (taken.isPresent()) {
            refillPool();
        }
        return taken;
    }

    private Optional<String> shortfall(SandboxConfig config, WarmPool p) {
        return admission.shortfall(config.memoryMib(), registry.reservingRoom(), p == null ? 0 : p.vmCount(),
                p == null ? 0 : p.memoryMib());
    }

    private boolean canFitWithoutWaitingVms(SandboxConfig config, WarmPool p) {
        int booting = p.vmCount() - p.status().ready();
        return admission.shortfall(config.memoryMib(), registry.reservingRoom(), booting,
                (long) booting * p.key().memoryMib()).isEmpty();
    }

    /** Tops the pool up as far as the host has room (after a sandbox went, or refills failed). */
    void refillPool() {
        WarmPool p = pool;
        if (p != null) {
            p.refill();
        }
    }

    Optional<WarmPool.Status> poolStatus() {
        WarmPool p = pool;
        return p == null ? Optional.empty() : Optional.of(p.status());
    }

    /** Stops refilling and destroys the waiting VMs. */
    void close() {
        WarmPool p = pool;
        if (p != null) {
            p.close();
        }
    }
}
