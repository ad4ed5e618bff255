package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.network.EgressTraffic;
import java.util.Optional;
import java.util.OptionalDouble;

/**
 * One sandbox's usage as of its latest observation, kept in memory between saves of its record (like its last
 * activity): observing costs a /proc read, saving costs a file write, so samples observe and only the registry saves.
 */
final class UsageMeter {

    private SandboxUsage usage;
    /** The egress counters whose bytes {@link #usage} includes, and how many of them: a new daemon's proxy starts at 0. */
    private EgressTraffic counted;
    private long countedInBytes;
    private long countedOutBytes;

    UsageMeter(SandboxUsage fromRecord) {
        this.usage = fromRecord;
    }

    synchronized SandboxUsage latest() {
        return usage;
    }

    synchronized void baselineVmCpu(double seconds) {
        usage = usage.withVmCpuBaseline(seconds);
    }

    /** Advances the usage to {@code nowMs} with what the sources say now. */
    synchronized SandboxUsage observe(long nowMs, int heldMemoryMib, OptionalDouble vmCpuSeconds,
            Optional<EgressTraffic> traffic) {
        long inBytes = 0;
        long outBytes = 0;
        if (traffic.isPresent()) {
            EgressTraffic.Snapshot now = traffic.get().snapshot();
            if (traffic.get() != counted) {
                counted = traffic.get();
                countedInBytes = 0;
                countedOutBytes = 0;
            }
            inBytes = now.bytesIn() - countedInBytes;
            outBytes = now.bytesOut() - countedOutBytes;
            countedInBytes = now.bytesIn();
            countedOutBytes = now.bytesOut();
        }
        usage = usage.advancedTo(nowMs, heldMemoryMib, vmCpuSeconds, inBytes, outBytes);
        return usage;
    }
}
