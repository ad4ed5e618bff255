package dev.kelpie.daemon.lifecycle;

import dev.kelpie.daemon.api.HostGrpcService;
import dev.kelpie.daemon.api.ImagesGrpcService;
import dev.kelpie.daemon.api.PackagesGrpcService;
import dev.kelpie.daemon.api.SandboxesGrpcService;
import dev.kelpie.daemon.api.server.DaemonServices;
import dev.kelpie.daemon.config.KelpieConfig;
import dev.kelpie.daemon.host.HostInfoService;
import dev.kelpie.daemon.images.ImageCatalog;
import dev.kelpie.daemon.images.oci.OciImageStore;
import dev.kelpie.daemon.images.oci.OciPuller;
import dev.kelpie.daemon.metrics.SandboxMetrics;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import dev.kelpie.daemon.stats.SandboxStatsSampler;
import dev.kelpie.daemon.teleport.PackageService;
import dev.kelpie.daemon.teleport.PackageStores;
import dev.kelpie.daemon.teleport.Restorer;
import dev.kelpie.daemon.teleport.Snapshotter;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import java.util.List;

/** Builds the daemon's gRPC services from the components they adapt. */
@ApplicationScoped
public class ApiComponents {

    @Produces
    @Singleton
    DaemonServices daemonServices(SandboxManager sandboxes, SandboxMetrics metrics, Snapshotter snapshotter,
            Restorer restorer, ImageCatalog images, PackageService packages, PackageStores stores, HostInfoService host,
            KelpieConfig config, SandboxStatsSampler stats, OciImageStore ociImages, OciPuller ociPuller) {
        return new DaemonServices(List.of(new SandboxesGrpcService(sandboxes, metrics, snapshotter, restorer,
                config.api().uploadIdleTimeout(), stats),
                new ImagesGrpcService(images, sandboxes, ociImages, ociPuller), new PackagesGrpcService(packages, config.api().uploadIdleTimeout()),
                new HostGrpcService(host, sandboxes, images, stores)));
    }
}
