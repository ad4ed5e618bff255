package dev.kelpie.daemon.api;

import dev.kelpie.api.v1.Host;
import dev.kelpie.api.v1.HostInfoRequest;
import dev.kelpie.api.v1.HostInfoResponse;
import dev.kelpie.daemon.host.HostInfoService;
import io.quarkus.grpc.GrpcService;
import io.smallrye.mutiny.Uni;
import jakarta.inject.Inject;

/** gRPC adapter for {@code kelpie.v1.Host}. */
@GrpcService
public class HostGrpcService implements Host {

    private final HostInfoService hostInfo;

    @Inject
    public HostGrpcService(HostInfoService hostInfo) {
        this.hostInfo = hostInfo;
    }

    @Override
    public Uni<HostInfoResponse> info(HostInfoRequest request) {
        return Uni.createFrom().item(() -> HostInfoMapper.toProto(hostInfo.report()));
    }
}
