package dev.kelpie.daemon.api;

import dev.kelpie.api.v1.Host;
import dev.kelpie.api.v1.HostInfoRequest;
import dev.kelpie.api.v1.HostInfoResponse;
import dev.kelpie.daemon.host.HostInfoService;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import io.quarkus.grpc.GrpcService;
import io.smallrye.mutiny.Uni;
import jakarta.inject.Inject;

/** gRPC adapter for {@code kelpie.v1.Host}. */
@GrpcService
public class HostGrpcService implements Host {

    private final HostInfoService hostInfo;
    private final SandboxManager sandboxes;

    @Inject
    public HostGrpcService(HostInfoService hostInfo, SandboxManager sandboxes) {
        this.hostInfo = hostInfo;
        this.sandboxes = sandboxes;
    }

    @Override
    public Uni<HostInfoResponse> info(HostInfoRequest request) {
        return Uni.createFrom().item(() -> HostInfoMapper.toProto(hostInfo.report()).toBuilder()
                .setRunningSandboxes(sandboxes.runningCount())
                .addAllWarmPools(sandboxes.warmPoolStatus().map(HostInfoMapper::toProto).stream().toList())
                .build());
    }
}
