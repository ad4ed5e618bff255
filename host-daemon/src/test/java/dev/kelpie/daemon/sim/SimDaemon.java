package dev.kelpie.daemon.sim;

import dev.kelpie.api.v1.ImagesGrpc;
import dev.kelpie.api.v1.PackagesGrpc;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.daemon.api.ImagesGrpcService;
import dev.kelpie.daemon.api.PackagesGrpcService;
import dev.kelpie.daemon.api.SandboxesGrpcService;
import dev.kelpie.daemon.hypervisor.GuestArchs;
import dev.kelpie.daemon.images.ImageCatalog;
import dev.kelpie.daemon.images.ImageCompatibility;
import dev.kelpie.daemon.images.LocalImageDirectory;
import dev.kelpie.daemon.images.cache.ImageCache;
import dev.kelpie.daemon.images.pull.ImagePuller;
import dev.kelpie.daemon.images.pull.LocalReleaseSource;
import dev.kelpie.daemon.images.trust.TrustedKeys;
import dev.kelpie.daemon.metrics.SandboxMetrics;
import dev.kelpie.daemon.sandboxes.DirectorySandboxStore;
import dev.kelpie.daemon.sandboxes.SandboxLimits;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import dev.kelpie.daemon.sandboxes.SandboxSettings;
import dev.kelpie.daemon.teleport.PackageService;
import dev.kelpie.daemon.teleport.PackageStores;
import dev.kelpie.daemon.teleport.Restorer;
import dev.kelpie.daemon.teleport.Snapshotter;
import dev.kelpie.daemon.teleport.StagingArea;
import dev.kelpie.teleport.store.LocalPackageStore;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One life of the daemon in a simulation: the real sandbox manager, warm pool, image cache and puller, package store,
 * snapshotter and restorer, and the real gRPC service in front of them, wired as the daemon wires them but over the
 * simulated world's seams. Starting one on a state directory a dead one left is a daemon restart.
 */
final class SimDaemon {

    /** Longer than any simulated run: the simulation's clients never go quiet on purpose. */
    private static final java.time.Duration UPLOAD_IDLE = java.time.Duration.ofMinutes(1);

    static final SandboxLimits LIMITS = new SandboxLimits(6, 4096, 4, 1024, 4096);
    /** A short agent wait: only a re-adopted sandbox whose redial has not run yet makes a call wait for it. */
    static final SandboxSettings SETTINGS = new SandboxSettings(GuestArchs.of(SimReleases.ARCH), 1, 256, Duration.ofMillis(20),
            Duration.ofSeconds(1), 2, 64, 1024, Duration.ZERO);
    private static final Duration NEVER = Duration.ofHours(1);
    private static final AtomicLong SERVER_NAMES = new AtomicLong();

    final Faults.Life life;
    final SimExecutor background = new SimExecutor();
    final SandboxManager manager;
    final ImageCache cache;
    final LocalPackageStore packages;
    final StagingArea staging;
    private final Server server;
    private final ManagedChannel channel;

    private SimDaemon(SimWorld world, int warmPoolSize) throws IOException {
        life = world.faults.newLife();
        var state = world.stateDir;
        cache = new ImageCache(state.resolve("images"), world.json, world.clock);
        cache.open();
        ImageCompatibility compatibility = new ImageCompatibility();
        ImagePuller puller = new ImagePuller(List.of(new FaultyReleaseSource(
                new LocalReleaseSource("sim", world.releases.dir(), true), world.faults, life)),
                new TrustedKeys(List.of(world.releases.key())), cache, compatibility, world.json,
                task -> Thread.ofVirtual().name("sim-pull").start(task), world.watchdog, NEVER, NEVER);
        ImageCatalog images = new ImageCatalog(cache, new LocalImageDirectory(List.of(), world.json), puller,
                compatibility, true, NEVER);
        manager = new SandboxManager(new FaultyHypervisor(world, life), images, new FaultyAgentConnector(world, life),
                new FaultySandboxStore(new DirectorySandboxStore(state, world.json), world.faults, life), world.clock,
                LIMITS, SETTINGS, () -> "sb" + world.sandboxIds.incrementAndGet(), background);
        packages = LocalPackageStore.open("local", state.resolve("packages"));
        // A second store, which only a Copy uses: so Copy can be asked about a package no store has.
        LocalPackageStore other = LocalPackageStore.open("other", state.resolve("packages-other"));
        PackageStores stores = PackageStores.of(List.of(new FaultyPackageStore(packages, world.faults, life), other),
                "local");
        staging = new StagingArea(state.resolve("teleport-staging"));
        staging.clean();
        Snapshotter snapshotter = new Snapshotter(manager, images, stores, staging, world.clock,
                () -> "pkg" + world.packageIds.incrementAndGet());
        Restorer restorer = new Restorer(manager, images, stores, staging, world.clock, new SecureRandom());
        manager.events().subscribe(world.transitions::observe);
        manager.recover();
        manager.startWarmPool(warmPoolSize, "");
        String name = "kelpie-sim-" + world.seed + "-" + SERVER_NAMES.incrementAndGet();
        server = InProcessServerBuilder.forName(name).directExecutor()
                .addService(new SandboxesGrpcService(manager, new SandboxMetrics(new SimpleMeterRegistry(), manager),
                        snapshotter, restorer, UPLOAD_IDLE))
                .addService(new ImagesGrpcService(images, manager))
                .addService(new PackagesGrpcService(new PackageService(stores, staging), UPLOAD_IDLE))
                .build().start();
        channel = new CutOnDeath(life, true).wrap(InProcessChannelBuilder.forName(name).directExecutor().build());
    }

    static SimDaemon start(SimWorld world, int warmPoolSize) throws IOException {
        return new SimDaemon(world, warmPoolSize);
    }

    /** The daemon's API channel, for calls no stub names (a walk over every method). */
    io.grpc.Channel channel() {
        return channel;
    }

    SandboxesGrpc.SandboxesBlockingStub api() {
        return SandboxesGrpc.newBlockingStub(channel);
    }

    ImagesGrpc.ImagesBlockingStub images() {
        return ImagesGrpc.newBlockingStub(channel);
    }

    PackagesGrpc.PackagesBlockingStub packagesApi() {
        return PackagesGrpc.newBlockingStub(channel);
    }

    PackagesGrpc.PackagesStub asyncPackagesApi() {
        return PackagesGrpc.newStub(channel);
    }

    SandboxesGrpc.SandboxesStub asyncApi() {
        return SandboxesGrpc.newStub(channel);
    }

    /**
     * After the run, when the threads of dead daemons have unwound: their servers go. (While the run goes on a dead
     * daemon's server stays up but unreachable: its callers were cut off, see {@link CutOnDeath}.)
     */
    void close() {
        channel.shutdownNow();
        server.shutdownNow();
    }

    /** A clean shutdown at the end of a run. */
    void stop() {
        manager.close();
        close();
    }
}
