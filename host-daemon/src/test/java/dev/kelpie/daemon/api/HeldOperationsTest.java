package dev.kelpie.daemon.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.datatype.jdk8.Jdk8Module;
import dev.kelpie.api.v1.Command;
import dev.kelpie.api.v1.ExecInteractiveRequest;
import dev.kelpie.api.v1.ExecInteractiveResponse;
import dev.kelpie.api.v1.ExecInteractiveStart;
import dev.kelpie.api.v1.ExecRequest;
import dev.kelpie.api.v1.ExecResponse;
import dev.kelpie.api.v1.HostGrpc;
import dev.kelpie.api.v1.HostInfoRequest;
import dev.kelpie.api.v1.HostInfoResponse;
import dev.kelpie.api.v1.ListSandboxesRequest;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.api.v1.WriteFileRequest;
import dev.kelpie.api.v1.WriteFileResponse;
import dev.kelpie.api.v1.WriteFileStart;
import dev.kelpie.daemon.agent.AgentConnector;
import dev.kelpie.daemon.agent.AgentUnavailableException;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import dev.kelpie.daemon.api.server.ApiEndpoints;
import dev.kelpie.daemon.api.server.ApiServer;
import dev.kelpie.daemon.config.KelpieConfig;
import dev.kelpie.daemon.host.BackendPreference;
import dev.kelpie.daemon.host.HostInfoService;
import dev.kelpie.daemon.hypervisor.BackendSwitch;
import dev.kelpie.daemon.hypervisor.GuestArchs;
import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.probe.BackendReport;
import dev.kelpie.daemon.hypervisor.probe.HostPlatform;
import dev.kelpie.daemon.hypervisor.probe.ProbeResult;
import dev.kelpie.daemon.images.ImageCatalog;
import dev.kelpie.daemon.images.ImageCompatibility;
import dev.kelpie.daemon.images.LocalImageDirectory;
import dev.kelpie.daemon.images.cache.ImageCache;
import dev.kelpie.daemon.images.pull.ImagePuller;
import dev.kelpie.daemon.images.trust.TrustedKeys;
import dev.kelpie.daemon.metrics.SandboxMetrics;
import dev.kelpie.daemon.sandboxes.DirectorySandboxStore;
import dev.kelpie.daemon.sandboxes.FakeHypervisor;
import dev.kelpie.daemon.sandboxes.InProcessAgents;
import dev.kelpie.daemon.sandboxes.OneImage;
import dev.kelpie.daemon.sandboxes.SandboxConfig;
import dev.kelpie.daemon.sandboxes.SandboxLimits;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import dev.kelpie.daemon.sandboxes.SandboxSettings;
import dev.kelpie.daemon.teleport.PackageStores;
import dev.kelpie.teleport.store.LocalPackageStore;
import io.grpc.BindableService;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.StreamObserver;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.prometheus.PrometheusConfig;
import io.micrometer.prometheus.PrometheusMeterRegistry;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real API server on a Unix socket, with real gRPC clients, while the two slow things a daemon waits for are held
 * open: the startup accelerator probe (minutes under TCG) and the dial of a re-adopted sandbox's agent (up to the
 * agent-ready timeout). Everything else must keep answering at once, and calls on the held sandbox must wait without
 * holding a thread, end with a clear status when the dial fails, and start nothing for a client that cancelled.
 */
class HeldOperationsTest {

    private static final Duration HOLD = Duration.ofSeconds(30);
    private static final long ANSWER_WITHIN_MS = 1_000;
    private static final long HELD_CALL_END_WITHIN_MS = 5_000;
    /** Long enough that the dial is held by the test, not timed out by the manager. */
    private static final SandboxSettings SETTINGS = new SandboxSettings(GuestArchs.of("x86_64"), 1, 256, Duration.ofSeconds(120),
            Duration.ofSeconds(1), 2, 64, 1024, Duration.ofMillis(200));
    private static final SandboxLimits LIMITS = new SandboxLimits(4, 4096, 4, 512, 4096);
    private static final Duration NEVER = Duration.ofHours(1);

    @TempDir
    Path state;
    private final ObjectMapper json = new ObjectMapper().registerModule(new Jdk8Module());
    private final FakeHypervisor hypervisor = new FakeHypervisor();
    private final HeldDials agents = new HeldDials(new InProcessAgents());
    private final CountDownLatch probeReleased = new CountDownLatch(1);
    private final ExecutorService background = Executors.newVirtualThreadPerTaskExecutor();
    private final java.util.concurrent.ScheduledExecutorService pullWatchdog = Executors.newSingleThreadScheduledExecutor();
    private final UnixSocketChannels channels = new UnixSocketChannels();
    private HostInfoService host;
    private SandboxManager manager;
    private ApiServer server;
    private ManagedChannel client;
    private String held;

    /**
     * A daemon restarted while sandbox {@code held} runs: its new probe is held, and so is the re-dial of the
     * sandbox's agent (the VM was adopted, its agent does not answer yet).
     */
    @BeforeEach
    void restartTheDaemonWithBothHeld() throws Exception {
        SandboxManager before = new SandboxManager(hypervisor, new OneImage(), agents, store(), Clock.systemUTC(), LIMITS,
                SETTINGS, () -> "sb1", Runnable::run);
        held = before.create(new SandboxConfig("", 0, 0, 0, Map.of(), Map.of(), 0, 0, null)).id();
        before.close();

        host = new HostInfoService(HostPlatform.current(), BackendPreference.AUTO, "test", state, this::heldProbe);
        host.startProbe();
        // As the daemon wires it (DaemonComponents.selectedBackend): new VMs go where the probe says, once it has.
        BackendSwitch backends = new BackendSwitch(Map.of(hypervisor.name(), hypervisor), () -> {
            try {
                host.awaitChoice(Duration.ofMinutes(5));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new VmException("interrupted while waiting for the backend probe");
            }
            return Optional.of(hypervisor.name());
        });
        agents.hold();
        manager = new SandboxManager(backends, new OneImage(), agents, store(), Clock.systemUTC(), LIMITS, SETTINGS,
                () -> "sb2", background);
        manager.recover();
        assertTrue(agents.awaitHeldDial(), "the re-adopted sandbox's agent is being dialled");

        server = ApiServer.start(new ApiEndpoints(state.resolve("api.sock"), state.resolve("api-metrics.sock"),
                Optional.empty(), Optional.empty()), noTls(), services(), new ApiAccess(false, false, Optional.empty()),
                new SimpleMeterRegistry(), new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
        client = channels.open(state.resolve("api.sock"));
    }

    @AfterEach
    void stop() throws Exception {
        probeReleased.countDown();
        agents.release(true);
        if (client != null) {
            client.shutdownNow();
        }
        if (server != null) {
            server.stop(Duration.ZERO);
        }
        if (manager != null) {
            manager.close();
        }
        agents.delegate.close();
        channels.close();
        background.shutdownNow();
        pullWatchdog.shutdownNow();
    }

    @Test
    void healthListAndHostInfoAnswerWithinASecondForThirtySecondsWhileTheProbeAndADialAreHeld() throws Exception {
        // Calls that need the held dial, on the same connection as the calls that must go on.
        Outcome<ExecResponse> exec = new Outcome<>();
        SandboxesGrpc.newStub(client).exec(ExecRequest.newBuilder().setSandboxId(held).setCommand(command("true")).build(),
                exec);
        Outcome<ExecInteractiveResponse> interactive = new Outcome<>();
        SandboxesGrpc.newStub(client).execInteractive(interactive).onNext(interactiveStart());
        Outcome<WriteFileResponse> upload = new Outcome<>();
        StreamObserver<WriteFileRequest> uploadRequests = SandboxesGrpc.newStub(client).writeFile(upload);
        uploadRequests.onNext(writeStart("/workspace/f", 0));
        uploadRequests.onCompleted();

        long end = System.nanoTime() + HOLD.toNanos();
        int rounds = 0;
        while (System.nanoTime() < end) {
            answersWithinASecond("Health/Check", () -> HealthGrpc.newBlockingStub(client).withDeadlineAfter(
                    ANSWER_WITHIN_MS, TimeUnit.MILLISECONDS).check(HealthCheckRequest.getDefaultInstance()));
            answersWithinASecond("Sandboxes/List", () -> assertEquals(1, SandboxesGrpc.newBlockingStub(client)
                    .withDeadlineAfter(ANSWER_WITHIN_MS, TimeUnit.MILLISECONDS)
                    .list(ListSandboxesRequest.getDefaultInstance()).getSandboxesCount()));
            answersWithinASecond("Host/Info", () -> {
                HostInfoResponse info = HostGrpc.newBlockingStub(client)
                        .withDeadlineAfter(ANSWER_WITHIN_MS, TimeUnit.MILLISECONDS).info(HostInfoRequest.getDefaultInstance());
                assertEquals(HostGrpcService.BACKEND_NOT_CHOSEN_YET, info.getNetwork().getDescription());
            });
            rounds++;
        }
        assertTrue(rounds > 30, "only " + rounds + " rounds in " + HOLD);
        assertFalse(host.backendKnown(), "the probe was held throughout");
        assertTrue(agents.stillHeld(), "the dial was held throughout");
        assertFalse(exec.done() || interactive.done() || upload.done(), "the calls on the held sandbox still wait");

        agents.release(false);
        for (Outcome<?> call : List.of(exec, interactive, upload)) {
            Status status = call.awaitStatus();
            assertEquals(Status.Code.UNAVAILABLE, status.getCode(), status.toString());
            assertTrue(status.getDescription().startsWith("sandbox " + held + ": the agent of its re-adopted VM did not"
                    + " answer"), status.getDescription());
        }
        probeReleased.countDown();
    }

    @Test
    void aClientThatCancelsWhileTheDialIsHeldStartsNothing() throws Exception {
        Outcome<ExecInteractiveResponse> interactive = new Outcome<>();
        SandboxesGrpc.newStub(client).execInteractive(interactive).onNext(interactiveStart());
        Outcome<ExecResponse> exec = new Outcome<>();
        SandboxesGrpc.newStub(client).exec(ExecRequest.newBuilder().setSandboxId(held).setCommand(command("true")).build(),
                exec);
        Outcome<WriteFileResponse> upload = new Outcome<>();
        StreamObserver<WriteFileRequest> uploadRequests = SandboxesGrpc.newStub(client).writeFile(upload);
        uploadRequests.onNext(writeStart("/workspace/cancelled", 0));
        for (Outcome<?> call : List.of(interactive, exec, upload)) {
            call.cancel();
            assertEquals(Status.Code.CANCELLED, call.awaitStatus().getCode());
        }
        answersWithinASecond("Health/Check after the cancels", () -> HealthGrpc.newBlockingStub(client)
                .withDeadlineAfter(ANSWER_WITHIN_MS, TimeUnit.MILLISECONDS).check(HealthCheckRequest.getDefaultInstance()));
        // A cancel is a message on the wire; the daemon hears it at once unless a thread of the call is stuck.
        Thread.sleep(ANSWER_WITHIN_MS);

        agents.release(true);
        // A call made now runs: once its process has started, any start for the cancelled calls would have too.
        Outcome<ExecResponse> after = new Outcome<>();
        SandboxesGrpc.newStub(client).exec(ExecRequest.newBuilder().setSandboxId(held).setCommand(command("after"))
                .build(), after);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(HELD_CALL_END_WITHIN_MS);
        while (agents.delegate.execs.stream().noneMatch(e -> e.start.getArgvList().equals(List.of("after")))) {
            assertTrue(System.nanoTime() < deadline, "the exec after the dial never started");
            Thread.onSpinWait();
        }
        assertEquals(List.of(List.of("after")), agents.delegate.execs.stream().map(e -> e.start.getArgvList()).toList(),
                "no process was started for a client that had cancelled");
        assertEquals(List.of(), agents.delegate.writesStarted, "no upload was started for a client that had cancelled");
    }

    private interface Call {
        void run() throws Exception;
    }

    private static void answersWithinASecond(String what, Call call) throws Exception {
        long started = System.nanoTime();
        try {
            call.run();
        } catch (StatusRuntimeException e) {
            fail(what + " failed while the probe and a dial were held: " + e.getStatus());
        }
        long tookMs = (System.nanoTime() - started) / 1_000_000;
        assertTrue(tookMs <= ANSWER_WITHIN_MS, what + " took " + tookMs + " ms");
    }

    private List<BindableService> services() throws Exception {
        ImageCache cache = new ImageCache(state.resolve("images"), json, Clock.systemUTC());
        cache.open();
        ImageCompatibility compatibility = new ImageCompatibility();
        ImagePuller puller = new ImagePuller(List.of(), new TrustedKeys(List.of()), cache, compatibility, json,
                background, pullWatchdog, NEVER, NEVER);
        ImageCatalog images = new ImageCatalog(cache, new LocalImageDirectory(List.of(), json), puller, compatibility,
                false, NEVER);
        PackageStores stores = PackageStores.of(List.of(LocalPackageStore.open("local", state.resolve("packages"))),
                "local");
        return List.of(new SandboxesGrpcService(manager, new SandboxMetrics(new SimpleMeterRegistry(), manager), null,
                null, NEVER), new HostGrpcService(host, manager, images, stores));
    }

    private DirectorySandboxStore store() {
        return new DirectorySandboxStore(state, json);
    }

    private List<BackendReport> heldProbe() {
        try {
            probeReleased.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return List.of(new BackendReport("qemu", ProbeResult.untested("released by the test"), "", "", List.of()));
    }

    private static KelpieConfig.Tls noTls() {
        return new KelpieConfig.Tls() {
            @Override
            public Optional<Path> cert() {
                return Optional.empty();
            }

            @Override
            public Optional<Path> key() {
                return Optional.empty();
            }

            @Override
            public Optional<Path> clientCa() {
                return Optional.empty();
            }
        };
    }

    private static Command command(String... argv) {
        return Command.newBuilder().addAllArgv(List.of(argv)).build();
    }

    private ExecInteractiveRequest interactiveStart() {
        return ExecInteractiveRequest.newBuilder().setStart(ExecInteractiveStart.newBuilder().setSandboxId(held)
                .setCommand(command("cat"))).build();
    }

    private WriteFileRequest writeStart(String path, long size) {
        return WriteFileRequest.newBuilder().setStart(WriteFileStart.newBuilder().setSandboxId(held).setPath(path)
                .setSizeBytes(size)).build();
    }

    /** A client call's end as the client sees it; it can cancel the call. */
    private static final class Outcome<T> implements ClientResponseObserver<Object, T> {
        private final CompletableFuture<Status> status = new CompletableFuture<>();
        private volatile ClientCallStreamObserver<Object> call;

        @Override
        public void beforeStart(ClientCallStreamObserver<Object> requestStream) {
            call = requestStream;
        }

        @Override
        public void onNext(T value) {
        }

        @Override
        public void onError(Throwable t) {
            status.complete(Status.fromThrowable(t));
        }

        @Override
        public void onCompleted() {
            status.complete(Status.OK);
        }

        boolean done() {
            return status.isDone();
        }

        void cancel() {
            call.cancel("the test gives up", null);
        }

        Status awaitStatus() throws Exception {
            return status.get(HELD_CALL_END_WITHIN_MS, TimeUnit.MILLISECONDS);
        }
    }

    /** Agents whose dials can be held open, then released to answer or to fail as an unreachable agent does. */
    private static final class HeldDials implements AgentConnector {
        final InProcessAgents delegate;
        private volatile CountDownLatch release = new CountDownLatch(0);
        private volatile boolean answer = true;
        private final AtomicInteger waiting = new AtomicInteger();
        private final CountDownLatch someoneWaits = new CountDownLatch(1);

        HeldDials(InProcessAgents delegate) {
            this.delegate = delegate;
        }

        void hold() {
            release = new CountDownLatch(1);
        }

        void release(boolean answers) {
            answer = answers;
            release.countDown();
        }

        boolean awaitHeldDial() throws InterruptedException {
            return someoneWaits.await(HELD_CALL_END_WITHIN_MS, TimeUnit.MILLISECONDS);
        }

        boolean stillHeld() {
            return waiting.get() > 0;
        }

        @Override
        public ManagedChannel dial(Path socket, Duration deadline) throws InterruptedException {
            CountDownLatch latch = release;
            if (latch.getCount() > 0) {
                waiting.incrementAndGet();
                someoneWaits.countDown();
                try {
                    latch.await();
                } finally {
                    waiting.decrementAndGet();
                }
                if (!answer) {
                    throw new AgentUnavailableException("agent on " + socket + " did not answer", null);
                }
            }
            return delegate.dial(socket, deadline);
        }
    }
}
