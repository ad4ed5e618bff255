package dev.kelpie.daemon.sandboxes;

/**
 * What the host allows: the budget all sandboxes share and the largest single sandbox.
 *
 * @param memoryBudgetMib guest memory of all sandboxes (and pooled VMs) together
 */
public record SandboxLimits(int maxSandboxes, long memoryBudgetMib, int maxVcpuCount, int maxMemoryMib,
        long maxDiskSizeMib) {}
