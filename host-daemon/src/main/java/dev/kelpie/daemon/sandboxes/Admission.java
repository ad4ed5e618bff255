package dev.kelpie.daemon.sandboxes;

import java.util.Collection;
import java.util.Optional;

/** Decides whether one more VM fits, against the limits and the VMs that already hold memory. */
final class Admission {

    private final SandboxLimits limits;

    Admission(SandboxLimits limits) {
        this.limits = limits;
    }

    /** Rejects a shape no host of this configuration would ever run. */
    void checkShape(SandboxConfig config) {
        if (config.vcpuCount() > limits.maxVcpuCount()) {
            throw new AdmissionDeniedException("vcpu_count " + config.vcpuCount() + " exceeds the per-sandbox limit of "
                    + limits.maxVcpuCount());
        }
        if (config.memoryMib() > limits.maxMemoryMib()) {
            throw new AdmissionDeniedException("memory_mib " + config.memoryMib() + " exceeds the per-sandbox limit of "
                    + limits.maxMemoryMib() + " MiB");
        }
        if (config.diskSizeMib() > limits.maxDiskSizeMib()) {
            throw new AdmissionDeniedException("disk_size_mib " + config.diskSizeMib()
                    + " exceeds the per-sandbox limit of " + limits.maxDiskSizeMib() + " MiB");
        }
    }

    /**
     * @param running sandboxes that hold a VM now
     * @param pooledVms warm-pool VMs waiting or booting, which count like sandboxes
     * @param pooledMemoryMib the memory they hold
     * @throws AdmissionDeniedException when one more sandbox of this shape does not fit
     */
    void admit(SandboxConfig config, Collection<SandboxRecord> running, int pooledVms, long pooledMemoryMib) {
        checkShape(config);
        shortfall(config.memoryMib(), running, pooledVms, pooledMemoryMib).ifPresent(reason -> {
            throw new AdmissionDeniedException(reason);
        });
    }

    /** Why one more VM of {@code memoryMib} does not fit beside the sandboxes and pooled VMs; empty when it does. */
    Optional<String> shortfall(long memoryMib, Collection<SandboxRecord> running, int pooledVms, long pooledMemoryMib) {
        String pool = pooledVms == 0 ? "" : " and the warm pool holds " + pooledVms + " VMs of " + pooledMemoryMib + " MiB";
        if (running.size() + pooledVms >= limits.maxSandboxes()) {
            return Optional.of("the host runs " + running.size() + " sandboxes" + pool + "; its limit is "
                    + limits.maxSandboxes());
        }
        long used = running.stream().mapToLong(r -> r.config().memoryMib()).sum() + pooledMemoryMib;
        if (used + memoryMib > limits.memoryBudgetMib()) {
            return Optional.of("memory_mib " + memoryMib + " does not fit: sandboxes" + (pool.isEmpty() ? "" : " and pool")
                    + " use " + used + " MiB of the host's " + limits.memoryBudgetMib() + " MiB budget ("
                    + (limits.memoryBudgetMib() - used) + " MiB free)");
        }
        return Optional.empty();
    }
}
