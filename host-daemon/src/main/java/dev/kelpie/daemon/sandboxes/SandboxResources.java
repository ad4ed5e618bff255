package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.hypervisor.VmRecord;
import dev.kelpie.daemon.network.EgressTraffic;
import io.grpc.ManagedChannel;
import java.util.Optional;

/**
 * A sandbox's parts as per-sandbox stats read them at one moment.
 *
 * @param vm its VM, while it holds one
 * @param egress its egress proxy's counters since this daemon opened it (zeros without egress)
 * @param agent its agent session, while it is READY and the session is up
 */
public record SandboxResources(SandboxRecord record, Optional<VmRecord> vm, EgressTraffic.Snapshot egress,
        Optional<ManagedChannel> agent) {}
