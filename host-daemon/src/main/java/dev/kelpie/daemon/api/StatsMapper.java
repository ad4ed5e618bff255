package dev.kelpie.daemon.api;

import dev.kelpie.agent.v1.StatsResponse;
import dev.kelpie.api.v1.EgressStats;
import dev.kelpie.api.v1.GuestStats;
import dev.kelpie.api.v1.SandboxStats;
import dev.kelpie.api.v1.SandboxUsage;
import dev.kelpie.api.v1.VmProcessStats;
import dev.kelpie.daemon.network.EgressTraffic;
import dev.kelpie.daemon.stats.SandboxStatsSample;

/** Stats samples and usage into the API's messages. */
final class StatsMapper {

    private StatsMapper() {}

    /** A VM process's memory as Get reports it. */
    static dev.kelpie.api.v1.VmMemory vmMemory(dev.kelpie.daemon.stats.ProcessSample p) {
        dev.kelpie.api.v1.VmMemory.Builder m = dev.kelpie.api.v1.VmMemory.newBuilder().setRssBytes(p.rssBytes());
        p.pssBytes().ifPresent(m::setPssBytes);
        return m.build();
    }

    /** @param cpuPercent the VM process's CPU rate since the stream's previous sample */
    static SandboxStats toProto(SandboxStatsSample s, double cpuPercent) {
        SandboxStats.Builder b = SandboxStats.newBuilder().setId(s.record().id())
                .setState(SandboxMapper.toProto(s.record().state())).setSampledAtUnixMs(s.sampledAtMs())
                .setEgress(toProto(s.egress())).setUsage(toProto(s.record().usage()));
        s.vmProcess().ifPresent(p -> {
            VmProcessStats.Builder vm = VmProcessStats.newBuilder().setPid(s.vmPid()).setCpuSeconds(p.cpuSeconds())
                    .setCpuPercent(cpuPercent).setRssBytes(p.rssBytes());
            p.pssBytes().ifPresent(vm::setPssBytes);
            b.setVm(vm);
        });
        s.guest().ifPresent(g -> b.setGuest(toProto(g)));
        s.diskAllocatedBytes().ifPresent(b::setDiskAllocatedBytes);
        return b.build();
    }

    static SandboxUsage toProto(dev.kelpie.daemon.sandboxes.SandboxUsage u) {
        return SandboxUsage.newBuilder().setCpuSeconds(u.cpuSeconds()).setMemoryMibSeconds(u.memoryMibSeconds())
                .setEgressBytesIn(u.egressBytesIn()).setEgressBytesOut(u.egressBytesOut()).build();
    }

    private static GuestStats toProto(StatsResponse g) {
        return GuestStats.newBuilder().setMemoryTotalBytes(g.getMemoryTotalBytes())
                .setMemoryAvailableBytes(g.getMemoryAvailableBytes()).setLoadAverage1M(g.getLoadAverage1M())
                .setLoadAverage5M(g.getLoadAverage5M()).setLoadAverage15M(g.getLoadAverage15M())
                .setFilesystemTotalBytes(g.getFilesystemTotalBytes()).setFilesystemUsedBytes(g.getFilesystemUsedBytes())
                .setProcessCount(g.getProcessCount()).setSupervisedProcesses(g.getSupervisedProcesses()).build();
    }

    private static EgressStats toProto(EgressTraffic.Snapshot e) {
        return EgressStats.newBuilder().setBytesIn(e.bytesIn()).setBytesOut(e.bytesOut())
                .setOpenConnections(Math.max(0, e.openConnections())).setTotalConnections(e.totalConnections()).build();
    }
}
