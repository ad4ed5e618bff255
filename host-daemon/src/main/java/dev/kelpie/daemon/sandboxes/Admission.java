package dev.kelpie.daemon.sandboxes;

import java.util.Collection;

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
     * @param pooledMemoryMib memory held by warm-pool VMs, which yield to a sandbox (they are drained first)
     */
    void admit(SandboxConfig config, Collection<SandboxRecord> running, long pooledMemoryMib) {
        checkShape(config);
        if (running.size() >= limits.maxSandboxes()) {
            throw new AdmissionDeniedException("the host runs " + running.size() + " sandboxes, its limit is "
                    + limits.maxSandboxes());
        }
        long used = running.stream().mapToLong(r -> r.config().memoryMib()).sum();
        if (used + config.memoryMib() > limits.memoryBudgetMib()) {
            throw new AdmissionDeniedException("memory_mib " + config.memoryMib() + " does not fit: sandboxes use "
                    + used + " MiB of the host's " + limits.memoryBudgetMib() + " MiB budget ("
                    + (limits.memoryBudgetMib() - used) + " MiB free; the warm pool holds " + pooledMemoryMib + " MiB more)");
        }
    }
}
