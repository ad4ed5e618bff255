package dev.kelpie.daemon.stats;

import dev.kelpie.agent.v1.AgentGrpc;
import dev.kelpie.agent.v1.StatsRequest;
import dev.kelpie.agent.v1.StatsResponse;
import dev.kelpie.daemon.hypervisor.VmRecord;
import dev.kelpie.daemon.hypervisor.WritableDisk;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import dev.kelpie.daemon.sandboxes.SandboxResources;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.time.Clock;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Takes samples of sandboxes' resource use: host-side figures of the VM process and its disk, the egress proxy's
 * counters, and the guest's own figures from its agent. A guest that does not answer within the deadline (frozen,
 * starved) costs the sample its guest figures, never the stream.
 */
public final class SandboxStatsSampler {

    private static final Logger LOG = Logger.getLogger(SandboxStatsSampler.class);
    /** The longest an agent may take to answer Stats before a sample goes without guest figures. */
    public static final long GUEST_STATS_TIMEOUT_MS = 2_000;

    private final SandboxManager manager;
    private final HostResources host;
    private final Clock clock;

    public SandboxStatsSampler(SandboxManager manager, HostResources host, Clock clock) {
        this.manager = manager;
        this.host = host;
        this.clock = clock;
    }

    /**
     * A sample of the sandbox now.
     *
     * @param guestTimeoutMs how long to wait for the guest's figures
     * @throws dev.kelpie.daemon.sandboxes.SandboxNotFoundException when it does not exist
     */
    public SandboxStatsSample sample(String id, long guestTimeoutMs) {
        SandboxResources now = manager.resources(id);
        Optional<VmRecord> vm = now.vm();
        Optional<ProcessSample> process = vm.flatMap(v -> host.process(v.process()));
        // The CPU rate divides by the time between two reads of the VM's CPU time, not between two whole samples,
        // whose guest call may take up to its timeout.
        long processReadAtNanos = System.nanoTime();
        OptionalLong disk = vm.isPresent() ? host.allocatedBytes(WritableDisk.in(vm.get().runtimeDir()))
                : OptionalLong.empty();
        Optional<StatsResponse> guest = now.agent().flatMap(channel -> guest(id, channel, guestTimeoutMs));
        return new SandboxStatsSample(now.record(), clock.millis(), vm.map(VmRecord::pid).orElse(0L), process,
                processReadAtNanos, guest,
                disk, now.egress());
    }

    /**
     * What the VM process of {@code record} holds of the host's memory (RSS, and PSS where the host reports it), the
     * same figures Stats reads; empty while it has no VM process.
     */
    public Optional<ProcessSample> vmProcess(dev.kelpie.daemon.sandboxes.SandboxRecord record) {
        VmRecord vm = record.vm();
        return vm == null || !record.state().holdsVm() ? Optional.empty() : host.process(vm.process());
    }

    private static Optional<StatsResponse> guest(String id, ManagedChannel channel, long timeoutMs) {
        try {
            return Optional.of(AgentGrpc.newBlockingStub(channel).withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS)
                    .stats(StatsRequest.getDefaultInstance()));
        } catch (StatusRuntimeException e) {
            // An older agent (UNIMPLEMENTED), a busy guest, a VM pausing under the call: this sample has no guest part.
            LOG.debugf("sandbox %s: no guest stats: %s", id, e.getStatus());
            return Optional.empty();
        }
    }
}
