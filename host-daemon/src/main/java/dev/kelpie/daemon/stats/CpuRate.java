package dev.kelpie.daemon.stats;

/**
 * The CPU rate of a process between two samples of its cumulative CPU time, in percent of one core (200 means two
 * cores busy all along), like {@code top} and {@code docker stats}.
 */
public final class CpuRate {

    private static final double NANOS_PER_SECOND = 1e9;

    private double previousCpuSeconds = Double.NaN;
    private long previousNanos;
    private long previousPid;

    /**
     * The rate since the previous call (0 for the first, for a new process, or when no time passed); a CPU time that
     * went backwards (another process) restarts the measurement.
     */
    public double next(long pid, double cpuSeconds, long monotonicNanos) {
        double rate = 0;
        if (!Double.isNaN(previousCpuSeconds) && pid == previousPid) {
            rate = percentOfOneCore(previousCpuSeconds, previousNanos, cpuSeconds, monotonicNanos);
        }
        previousCpuSeconds = cpuSeconds;
        previousNanos = monotonicNanos;
        previousPid = pid;
        return rate;
    }

    public static double percentOfOneCore(double cpuBeforeSeconds, long beforeNanos, double cpuAfterSeconds, long afterNanos) {
        long wallNanos = afterNanos - beforeNanos;
        double cpu = cpuAfterSeconds - cpuBeforeSeconds;
        if (wallNanos <= 0 || cpu < 0) {
            return 0;
        }
        return 100.0 * cpu / (wallNanos / NANOS_PER_SECOND);
    }
}
