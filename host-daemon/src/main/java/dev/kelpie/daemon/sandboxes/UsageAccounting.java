package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.hypervisor.VmHandle;
import java.time.Clock;
import java.util.OptionalDouble;

/**
 * Brings sandboxes' usage up to date from its sources (the VM process's CPU time, the clock, the egress proxy's
 * counters), and says when an in-memory figure is worth saving.
 */
final class UsageAccounting {

    /** A running sandbox's record is rewritten at most this often for its usage alone: a crash loses no more egress. */
    static final long USAGE_SAVE_INTERVAL_MS = 60_000;

    private final VmCpuTime cpu;
    private final SandboxNetworks networks;
    private final Clock clock;

    UsageAccounting(VmCpuTime cpu, SandboxNetworks networks, Clock clock) {
        this.cpu = cpu;
        this.networks = networks;
        this.clock = clock;
    }

    /** The sandbox's usage as of now, which it keeps in memory until its record is next saved. */
    SandboxUsage observe(Sandbox sandbox) {
        SandboxRecord r = sandbox.record;
        VmHandle vm = sandbox.vm;
        // A re-adopted VM that was found gone held memory until some unknown moment: charged only up to the last save.
        boolean holding = r.state().holdsVm() && (vm != null || r.state() == SandboxState.CREATING);
        OptionalDouble vmCpu = vm != null && r.state().holdsVm() ? cpu.secondsOf(vm.record()) : OptionalDouble.empty();
        return sandbox.usage.observe(clock.millis(), holding ? r.config().memoryMib() : 0, vmCpu,
                networks.traffic(sandbox.id()));
    }

    /** A warm-pool VM's CPU before the sandbox took it (its boot) is not the sandbox's. */
    void takeOver(Sandbox sandbox, VmHandle pooled) {
        cpu.secondsOf(pooled.record()).ifPresent(sandbox.usage::baselineVmCpu);
    }

    /** Whether the usage in memory is far enough ahead of the saved one to write the record for it. */
    static boolean worthSaving(SandboxUsage saved, SandboxUsage current) {
        return current.accountedUntilMs() - saved.accountedUntilMs() >= USAGE_SAVE_INTERVAL_MS;
    }
}
