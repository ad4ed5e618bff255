package dev.kelpie.daemon.api;

import dev.kelpie.api.v1.AcceleratorProbe;
import dev.kelpie.api.v1.BackendProbe;
import dev.kelpie.api.v1.HostInfoResponse;
import dev.kelpie.api.v1.ProbeStatus;
import dev.kelpie.api.v1.WarmPoolStatus;
import dev.kelpie.daemon.host.HostReport;
import dev.kelpie.daemon.hypervisor.probe.AcceleratorReport;
import dev.kelpie.daemon.hypervisor.probe.BackendReport;
import dev.kelpie.daemon.hypervisor.probe.HostPlatform;

/** Maps host reports to {@code kelpie.v1} messages; the only place that knows both. */
final class HostInfoMapper {

    static final String API_VERSION = "v1";

    private HostInfoMapper() {}

    static HostInfoResponse toProto(HostReport report) {
        HostInfoResponse.Builder b = HostInfoResponse.newBuilder()
                .setDaemonVersion(report.daemonVersion())
                .setHostOs(report.os())
                .setHostArch(report.arch())
                .setHostCpuCount(report.cpuCount())
                .setHostMemoryMib(report.memoryMib())
                .setSelectedBackend(report.choice().backend().orElse(""))
                .setSelectionReason(report.choice().reason())
                .setApiVersion(API_VERSION)
                .setStateDir(report.stateDir().toString());
        report.backends().forEach(backend -> b.addBackends(toProto(backend)));
        return b.build();
    }

    static WarmPoolStatus toProto(dev.kelpie.daemon.sandboxes.WarmPoolStatus p) {
        return WarmPoolStatus.newBuilder().setImageVersion(p.imageVersion()).setArch(p.arch()).setVcpuCount(p.vcpuCount())
                .setMemoryMib(p.memoryMib()).setTargetSize(p.targetSize()).setReady(p.ready()).setBooting(p.booting())
                .setTakenTotal(p.takenTotal()).setFailedBootsTotal(p.failedBootsTotal()).setLastError(p.lastError())
                .setEmulated(!p.arch().equals(HostPlatform.current().arch())).build();
    }

    private static BackendProbe toProto(BackendReport r) {
        BackendProbe.Builder b = BackendProbe.newBuilder().setName(r.name()).setStatus(toProto(r.result().status()))
                .setReason(r.result().reason()).setVersion(r.version()).setPath(r.path());
        r.accelerators().forEach(a -> b.addAccelerators(toProto(a)));
        return b.build();
    }

    private static AcceleratorProbe toProto(AcceleratorReport a) {
        return AcceleratorProbe.newBuilder().setName(a.accelerator().qemuName()).setStatus(toProto(a.result().status()))
                .setReason(a.result().reason()).setProbeDurationMs(a.result().duration().toMillis()).build();
    }

    private static ProbeStatus toProto(dev.kelpie.daemon.hypervisor.probe.ProbeStatus s) {
        return switch (s) {
            case AVAILABLE -> ProbeStatus.PROBE_STATUS_AVAILABLE;
            case UNAVAILABLE -> ProbeStatus.PROBE_STATUS_UNAVAILABLE;
            case UNTESTED -> ProbeStatus.PROBE_STATUS_UNTESTED;
        };
    }
}
