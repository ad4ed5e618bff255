package dev.kelpie.daemon.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.datatype.jdk8.Jdk8Module;
import dev.kelpie.api.v1.Image;
import dev.kelpie.api.v1.ImagesGrpc;
import dev.kelpie.api.v1.InspectImageRequest;
import dev.kelpie.api.v1.PullImageRequest;
import dev.kelpie.api.v1.PullImageResponse;
import dev.kelpie.api.v1.RemoveImageRequest;
import dev.kelpie.daemon.images.cache.ImageCache;
import dev.kelpie.daemon.images.oci.OciImageStore;
import dev.kelpie.daemon.images.oci.OciBoot;
import dev.kelpie.daemon.sandboxes.DirectorySandboxStore;
import dev.kelpie.daemon.sandboxes.FakeHypervisor;
import dev.kelpie.daemon.sandboxes.InProcessAgents;
import dev.kelpie.daemon.sandboxes.OneImage;
import dev.kelpie.daemon.sandboxes.SandboxConfig;
import dev.kelpie.daemon.sandboxes.SandboxLimits;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import dev.kelpie.daemon.sandboxes.SandboxSettings;
import dev.kelpie.daemon.sandboxes.VmCpuTime;
import dev.kelpie.daemon.images.oci.OciPlatform;
import dev.kelpie.daemon.images.oci.OciPuller;
import dev.kelpie.daemon.images.oci.OciRegistryClient;
import dev.kelpie.daemon.images.oci.OciRegistrySettings;
import dev.kelpie.daemon.images.oci.TestImagePusher;
import dev.kelpie.daemon.images.oci.TestRegistry;
import dev.kelpie.daemon.images.pull.ResumableDownload;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code Images.Pull}/{@code Inspect}/{@code Remove} with {@code oci_image}, over gRPC against the real service and
 * Debian's docker-registry: the image as the API reports it, and each failure's status code.
 */
class ImagesGrpcOciTest {

    private static final long DEADLINE_SECONDS = 60;

    @TempDir
    Path tmp;

    private final ScheduledExecutorService watchdog = Executors.newSingleThreadScheduledExecutor();
    private TestRegistry registry;
    private TestImagePusher pusher;
    private Server server;
    private ManagedChannel channel;
    private ImagesGrpc.ImagesBlockingStub images;
    private SandboxManager sandboxes;
    private final InProcessAgents agents = new InProcessAgents();
    private final java.util.concurrent.CompletableFuture<Void> leasedBeforeRootBuild =
            new java.util.concurrent.CompletableFuture<>();
    /** Open unless a test holds a Create between its lease and its root build. */
    private volatile java.util.concurrent.CountDownLatch rootBuildMayFinish = new java.util.concurrent.CountDownLatch(0);

    @BeforeEach
    void setUp() throws Exception {
        assumeTrue(Files.isExecutable(TestRegistry.BINARY), TestRegistry.BINARY + " is not installed");
        registry = TestRegistry.start(Files.createDirectories(tmp.resolve("registry")), "");
        pusher = new TestImagePusher(registry.host(), null);
        ObjectMapper json = new ObjectMapper();
        ImageCache cache = new ImageCache(tmp.resolve("cache"), json, Clock.systemUTC());
        cache.open();
        OciImageStore store = new OciImageStore(cache, json);
        OciPuller puller = new OciPuller(new OciRegistryClient(new OciRegistrySettings(Set.of(registry.host()),
                Map.of(), Optional.empty(), List.of()), Executors.newVirtualThreadPerTaskExecutor()), store,
                new ResumableDownload(watchdog, Duration.ofSeconds(10), Duration.ofMillis(10)), json,
                Executors.newVirtualThreadPerTaskExecutor(), Clock.systemUTC(), OciPlatform.forArch("x86_64"));
        // Sandboxes boot on a fake hypervisor from whatever cached image they name: only their records matter here.
        sandboxes = new SandboxManager(new FakeHypervisor(), new OneImage(), agents, new DirectorySandboxStore(
                tmp.resolve("state"), new ObjectMapper().registerModule(new Jdk8Module())), Clock.systemUTC(),
                new SandboxLimits(3, 1024, 4, 512, 4096), new SandboxSettings(dev.kelpie.daemon.hypervisor.GuestArchs.of("x86_64"), 1, 256, Duration.ofSeconds(5),
                        Duration.ofSeconds(1), 2, 64, 1024, Duration.ZERO), () -> "sb1", Runnable::run,
                (id, socket, allowlist, traffic) -> {
                    throw new IllegalStateException("no egress here");
                }, VmCpuTime.NONE, (reference, base) -> {
                    // As OciBootImages does: the image resolved and held in one step, then its root built.
                    OciImageStore.Leased leased = store.lease(reference);
                    leasedBeforeRootBuild.complete(null);
                    rootBuildMayFinish.await();
                    return new OciBoot(base, leased.image(), reference, "", false, leased.lease());
                });
        String name = InProcessServerBuilder.generateName();
        // Only the OCI requests are made: they touch neither our images' catalog nor the sandboxes.
        server = InProcessServerBuilder.forName(name).directExecutor()
                .addService(new ImagesGrpcService(null, sandboxes, store, puller)).build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        images = ImagesGrpc.newBlockingStub(channel);
    }

    @AfterEach
    void tearDown() throws Exception {
        if (sandboxes != null) {
            sandboxes.close();
        }
        agents.close();
        if (channel != null) {
            channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
            server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        }
        if (registry != null) {
            registry.close();
        }
        watchdog.shutdownNow();
    }

    private List<PullImageResponse> pull(String reference) {
        List<PullImageResponse> responses = new ArrayList<>();
        images.withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS)
                .pull(PullImageRequest.newBuilder().setOciImage(reference).build()).forEachRemaining(responses::add);
        return responses;
    }

    private static Status.Code codeOf(Runnable call) {
        return assertThrows(StatusRuntimeException.class, call::run).getStatus().getCode();
    }

    @Test
    void pullReportsProgressThenTheImageWhichInspectAndRemoveFind() throws Exception {
        byte[] manifest = pusher.pushImage("team/tool", "1.2", "amd64", List.of("GREETING=hi"), "/srv",
                List.of(TestImagePusher.gzip(TestImagePusher.tar(t -> TestImagePusher.file(t, "srv/marker", 0644,
                        "x".repeat(300_000))))));
        String reference = registry.host() + "/team/tool:1.2";

        List<PullImageResponse> responses = pull(reference);

        assertTrue(responses.stream().anyMatch(PullImageResponse::hasProgress), "progress comes first");
        Image image = responses.getLast().getImage();
        String digest = "sha256:" + TestImagePusher.sha256(manifest);
        assertEquals(digest, image.getOci().getManifestDigest());
        assertEquals(List.of("GREETING=hi"), image.getOci().getEnvList());
        assertEquals("/srv", image.getOci().getWorkingDir());
        assertEquals("x86_64", image.getArch());
        assertEquals(3, image.getFilesCount(), "manifest, config, one layer");

        assertEquals(digest, images.inspect(InspectImageRequest.newBuilder().setOciImage(reference).build())
                .getImage().getOci().getManifestDigest());
        String id = sandboxes.create(new SandboxConfig("", 0, 0, 0, Map.of(), Map.of(), 0, 0, null)
                .withOciImage(reference)).id();
        StatusRuntimeException inUse = assertThrows(StatusRuntimeException.class, () -> images.remove(
                RemoveImageRequest.newBuilder().setOciImage(reference).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, inUse.getStatus().getCode());
        assertEquals("OCI image " + registry.host() + "/team/tool@" + digest + " is in use by sandbox " + id
                + "; delete them first", inUse.getStatus().getDescription());
        sandboxes.delete(id);
        assertTrue(images.remove(RemoveImageRequest.newBuilder().setOciImage(digest).build()).getFreedBytes() > 0);
        assertEquals(Status.Code.NOT_FOUND, codeOf(() -> images.inspect(InspectImageRequest.newBuilder()
                .setOciImage(reference).build())));
    }

    @Test
    void failuresHaveTheirStatusCodes() throws Exception {
        pusher.pushImage("arm/only", "1", "arm64", List.of(), "/", List.of(TestImagePusher.gzip(TestImagePusher.tar(
                t -> TestImagePusher.file(t, "a", 0644, "a")))));

        assertEquals(Status.Code.FAILED_PRECONDITION, codeOf(() -> pull(registry.host() + "/arm/only:1")));
        assertEquals(Status.Code.NOT_FOUND, codeOf(() -> pull(registry.host() + "/arm/only:missing")));
        assertEquals(Status.Code.INVALID_ARGUMENT, codeOf(() -> pull("Not A Reference")));
        assertEquals(Status.Code.INVALID_ARGUMENT, codeOf(() -> images.pull(PullImageRequest.newBuilder()
                .setOciImage(registry.host() + "/arm/only:1").setVersion("1.0.0").build()).forEachRemaining(r -> {})));
        assertFalse(Files.list(tmp.resolve("cache/oci")).findAny().isPresent(), "nothing was cached");
    }

    /**
     * A Create that resolved an image and is building its root holds a lease on it: an Images.Remove or a prune in
     * that moment is refused, as by a prune (the same step; without the lease it would find no sandbox record yet and remove the root from under
     * the Create), and once the sandbox exists its record holds the image.
     */
    @Test
    void aRemoveOrPruneRacingACreateOfTheImageIsRefusedAndTheCreateBoots() throws Exception {
        byte[] manifest = pusher.pushImage("team/raced", "1", "amd64", List.of(), "/", List.of(TestImagePusher.gzip(
                TestImagePusher.tar(t -> TestImagePusher.file(t, "a", 0644, "a")))));
        String reference = registry.host() + "/team/raced:1";
        String digest = "sha256:" + TestImagePusher.sha256(manifest);
        pull(reference);
        java.util.concurrent.CountDownLatch mayFinish = new java.util.concurrent.CountDownLatch(1);
        rootBuildMayFinish = mayFinish;
        var created = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return sandboxes.create(new SandboxConfig("", 0, 0, 0, Map.of(), Map.of(), 0, 0, null)
                        .withOciImage(reference)).id();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        }, Executors.newVirtualThreadPerTaskExecutor());
        leasedBeforeRootBuild.get(DEADLINE_SECONDS, TimeUnit.SECONDS);

        StatusRuntimeException raced = assertThrows(StatusRuntimeException.class, () -> images.remove(
                RemoveImageRequest.newBuilder().setOciImage(digest).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, raced.getStatus().getCode());
        assertTrue(raced.getStatus().getDescription().contains("being created or restored from it right now"),
                raced.getStatus().getDescription());

        mayFinish.countDown();
        String id = created.get(DEADLINE_SECONDS, TimeUnit.SECONDS);
        assertEquals(digest, sandboxes.get(id).oci().manifestDigest());
        StatusRuntimeException inUse = assertThrows(StatusRuntimeException.class, () -> images.remove(
                RemoveImageRequest.newBuilder().setOciImage(digest).build()));
        assertTrue(inUse.getStatus().getDescription().contains("in use by sandbox " + id), inUse.getStatus().toString());
        sandboxes.delete(id);
        assertTrue(images.remove(RemoveImageRequest.newBuilder().setOciImage(digest).build()).getFreedBytes() > 0,
                "the lease was released: nothing holds the image once its sandbox is gone");
    }
}
