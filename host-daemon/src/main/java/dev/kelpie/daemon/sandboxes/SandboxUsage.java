package dev.kelpie.daemon.sandboxes;

import java.util.OptionalDouble;

/**
 * What a sandbox has used since it was created, for accounting; persisted in its record and never decreasing.
 *
 * <p>CPU is derived rather than summed: the VM process's CPU time is cumulative since the process started, so the
 * sandbox's CPU is that figure minus {@code vmCpuBaselineSeconds} (the process's CPU before the sandbox took it: a
 * warm-pool VM's boot). A daemon that re-adopts the VM after a restart reads the same process and the same baseline,
 * and so counts nothing twice; a process that cannot be read (it ended) leaves the last figure standing.
 *
 * <p>Memory is charged as allocated guest memory times the wall time the sandbox held a VM (paused included), not
 * RSS: it is what the host had to reserve, and what the host's memory budget counts.
 *
 * @param accountedUntilMs the wall time up to which memory has been charged
 */
public record SandboxUsage(double cpuSeconds, double memoryMibSeconds, long egressBytesIn, long egressBytesOut,
        double vmCpuBaselineSeconds, long accountedUntilMs) {

    private static final double MS_PER_SECOND = 1000.0;

    /** Nothing used yet; memory is charged from {@code nowMs}. */
    public static SandboxUsage startingAt(long nowMs) {
        return new SandboxUsage(0, 0, 0, 0, 0, nowMs);
    }

    /** The VM process had used {@code seconds} of CPU before this sandbox took it; they are not the sandbox's. */
    SandboxUsage withVmCpuBaseline(double seconds) {
        return new SandboxUsage(cpuSeconds, memoryMibSeconds, egressBytesIn, egressBytesOut, seconds, accountedUntilMs);
    }

    /**
     * The usage at {@code nowMs}.
     *
     * @param heldMemoryMib the guest memory held since {@link #accountedUntilMs()}; 0 while no VM was held
     * @param vmCpuSeconds the VM process's CPU time since it started, if it can be read now
     * @param egressInBytes bytes received through the egress proxy since the last advance
     * @param egressOutBytes bytes sent since the last advance
     */
    SandboxUsage advancedTo(long nowMs, int heldMemoryMib, OptionalDouble vmCpuSeconds, long egressInBytes,
            long egressOutBytes) {
        double cpu = vmCpuSeconds.isPresent() ? Math.max(cpuSeconds, vmCpuSeconds.getAsDouble() - vmCpuBaselineSeconds)
                : cpuSeconds;
        long heldMs = Math.max(0, nowMs - accountedUntilMs);
        return new SandboxUsage(cpu, memoryMibSeconds + heldMemoryMib * (heldMs / MS_PER_SECOND),
                egressBytesIn + Math.max(0, egressInBytes), egressBytesOut + Math.max(0, egressOutBytes),
                vmCpuBaselineSeconds, Math.max(accountedUntilMs, nowMs));
    }
}
