package dev.kelpie.daemon.api;

import dev.kelpie.api.v1.GuestArch;
import dev.kelpie.api.v1.HostGrpc;
import dev.kelpie.api.v1.HostInfoRequest;
import dev.kelpie.api.v1.HostInfoResponse;
import dev.kelpie.api.v1.ImageCacheStatus;
import dev.kelpie.api.v1.PackageStoreStatus;
import dev.kelpie.daemon.host.HostInfoService;
import dev.kelpie.daemon.hypervisor.GuestArchs;
import dev.kelpie.daemon.images.ImageCatalog;
import dev.kelpie.daemon.images.cache.CachedImage;
import dev.kelpie.daemon.network.NetworkSupport;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import dev.kelpie.daemon.teleport.PackageStores;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.Optional;

/** gRPC adapter for {@code kelpie.v1.Host}. */
public class HostGrpcService extends HostGrpc.HostImplBase {

    static final String BACKEND_NOT_CHOSEN_YET = "not known yet: the backend probe is still choosing the backend";

    private final HostInfoService hostInfo;
    private final SandboxManager sandboxes;
    private final ImageCatalog images;
    private final PackageStores stores;

    public HostGrpcService(HostInfoService hostInfo, SandboxManager sandboxes, ImageCatalog images,
            PackageStores stores) {
        this.hostInfo = hostInfo;
        this.sandboxes = sandboxes;
        this.images = images;
        this.stores = stores;
    }

    @Override
    public void info(HostInfoRequest request, StreamObserver<HostInfoResponse> out) {
        UnaryCalls.respond(out, () -> HostInfoMapper.toProto(hostInfo.report()).toBuilder()
                .setRunningSandboxes(sandboxes.runningCount())
                .addAllWarmPools(sandboxes.warmPoolStatus().map(HostInfoMapper::toProto).stream().toList())
                .setImageCache(imageCache())
                .setNetwork(network())
                .addAllGuestArchs(guestArchs())
                .addAllPackageStores(stores.all().stream().map(s -> PackageStoreStatus.newBuilder().setName(s.name())
                        .setLocation(s.location()).setSealed(s.sealed()).setDefault(s.name().equals(stores.defaultName()))
                        .build()).toList())
                .build());
    }

    /**
     * What the selected backend's sandboxes can reach. Until the startup probe has chosen a backend, asking the
     * backend would wait for the probe (minutes under TCG), and Host.Info must answer at once: it says so instead.
     */
    private dev.kelpie.api.v1.NetworkSupport network() {
        if (!hostInfo.backendKnown()) {
            return dev.kelpie.api.v1.NetworkSupport.newBuilder().setDescription(BACKEND_NOT_CHOSEN_YET).build();
        }
        return network(sandboxes.networkSupport());
    }

    /** Each architecture on the selected backend; like {@link #network()}, not asked before the probe has chosen. */
    private List<GuestArch> guestArchs() {
        GuestArchs archs = sandboxes.guestArchs();
        return GuestArchs.SUPPORTED.stream().map(arch -> {
            GuestArch.Builder b = GuestArch.newBuilder().setArch(arch).setEmulated(archs.emulated(arch))
                    .setDefault(arch.equals(archs.defaultArch()));
            if (!hostInfo.backendKnown()) {
                return b.setReason(BACKEND_NOT_CHOSEN_YET).build();
            }
            Optional<String> unavailable = sandboxes.archUnavailableReason(arch);
            return b.setAvailable(unavailable.isEmpty()).setReason(unavailable.orElse("")).build();
        }).toList();
    }

    private static dev.kelpie.api.v1.NetworkSupport network(NetworkSupport support) {
        return dev.kelpie.api.v1.NetworkSupport.newBuilder().setEgress(support.egress())
                .setPortForwards(support.portForwards()).setDescription(support.description()).build();
    }

    private ImageCacheStatus imageCache() {
        List<CachedImage> cached = images.cache().list();
        return ImageCacheStatus.newBuilder().setDir(images.cache().root().toString())
                .setCachedImages(cached.size()).setCachedBytes(cached.stream().mapToLong(CachedImage::sizeBytes).sum())
                .addAllSources(images.puller().sources().stream().map(s -> s.name() + "=" + s.location()).toList())
                .addAllTrustedKeyIds(images.puller().trustedKeyIds())
                .build();
    }
}
