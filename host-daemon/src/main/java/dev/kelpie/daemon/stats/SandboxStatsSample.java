package dev.kelpie.daemon.stats;

import dev.kelpie.agent.v1.StatsResponse;
import dev.kelpie.daemon.network.EgressTraffic;
import dev.kelpie.daemon.sandboxes.SandboxRecord;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * One sample of a sandbox's resource use. Host-side figures are there while it holds a VM whose process can be read;
 * guest figures while it is READY and its agent answered in time.
 *
 * @param record the sandbox when sampled, its usage up to date
 * @param vmPid the VMM's host pid; 0 without a VM
 * @param vmProcess the VMM process's figures
 * @param vmProcessReadAtNanos when they were read ({@link System#nanoTime}), for the CPU rate
 * @param guest what the agent reported
 * @param diskAllocatedBytes blocks the writable disk file occupies on the host
 */
public record SandboxStatsSample(SandboxRecord record, long sampledAtMs, long vmPid, Optional<ProcessSample> vmProcess,
        long vmProcessReadAtNanos,
        Optional<StatsResponse> guest, OptionalLong diskAllocatedBytes, EgressTraffic.Snapshot egress) {}
