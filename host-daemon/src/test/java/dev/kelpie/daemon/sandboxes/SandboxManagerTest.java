package dev.kelpie.daemon.sandboxes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.datatype.jdk8.Jdk8Module;
import dev.kelpie.daemon.errors.InvalidRequestException;
import dev.kelpie.daemon.hypervisor.GuestArchUnavailableException;
import dev.kelpie.daemon.hypervisor.GuestArchs;
import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.VmOperationUnsupportedException;
import dev.kelpie.daemon.network.EgressGateway;
import dev.kelpie.daemon.network.NetworkMode;
import dev.kelpie.daemon.network.NetworkPolicy;
import dev.kelpie.daemon.network.PortForward;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The sandbox manager driven through its seams: a fake hypervisor, in-process agents, a settable clock, the real
 * directory store, and background work run inline. No VM, no sleeps: every step is the test's.
 */
class SandboxManagerTest {

    private static final SandboxLimits LIMITS = new SandboxLimits(3, 1024, 4, 512, 4096);
    private static final SandboxSettings SETTINGS = new SandboxSettings(GuestArchs.of("x86_64"), 1, 256, Duration.ofSeconds(5),
            Duration.ofSeconds(1), 2, 64, 1024, Duration.ZERO);

    @TempDir
    Path state;
    private final FakeHypervisor hypervisor = new FakeHypervisor();
    private final InProcessAgents agents = new InProcessAgents();
    private final MutableClock clock = new MutableClock();
    private final AtomicInteger nextId = new AtomicInteger();
    private final List<SandboxEvent> events = new CopyOnWriteArrayList<>();
    private final ObjectMapper json = new ObjectMapper().registerModule(new Jdk8Module());
    private SandboxManager manager;

    @BeforeEach
    void start() {
        manager = newManager();
    }

    /** Proxy sockets opened (by sandbox id) and closed, as the daemon's egress proxy would serve them. */
    private final Map<String, Path> egressOpen = new java.util.concurrent.ConcurrentHashMap<>();
    private final List<String> egressClosed = new CopyOnWriteArrayList<>();
    private final EgressGateway egress = (id, socket, allowlist, traffic) -> {
        egressOpen.put(id, socket);
        return () -> egressClosed.add(id);
    };

    private SandboxManager newManager() {
        SandboxManager m = new SandboxManager(hypervisor, new OneImage(), agents, new DirectorySandboxStore(state, json), clock,
                LIMITS, SETTINGS, () -> "sb" + nextId.incrementAndGet(), Runnable::run, egress);
        m.events().subscribe(events::add);
        return m;
    }

    @AfterEach
    void stop() {
        manager.close();
        agents.close();
    }

    private static SandboxConfig config(int memoryMib) {
        return new SandboxConfig("", 0, memoryMib, 0, Map.of("LANG", "C.UTF-8"), Map.of("team", "a"), 0, 0, null);
    }

    private static SandboxConfig withNetwork(NetworkPolicy network) {
        return new SandboxConfig("", 0, 0, 0, Map.of("http_proxy", "http://mine:1"), Map.of(), 0, 0, network);
    }

    private static SandboxConfig ofArch(String arch) {
        return new SandboxConfig("", 0, 0, 0, Map.of(), Map.of(), 0, 0, null, IdleAction.DELETE, arch);
    }

    @Test
    void aSandboxOfTheOtherArchBootsThatArchsImageAndOneTheBackendCannotRunIsRefusedBeforeAnythingBoots()
            throws Exception {
        SandboxRecord emulated = manager.create(ofArch("aarch64"));
        assertEquals("aarch64", emulated.arch());
        assertEquals("aarch64", emulated.config().arch());
        assertEquals("aarch64", hypervisor.specs.get(0).image().arch());
        SandboxRecord own = manager.create(ofArch(""));
        assertEquals("x86_64", own.arch(), "the default is the host's");
        assertEquals("x86_64", own.config().arch());

        hypervisor.archRefusals.put("aarch64", "no qemu-system-aarch64 here");
        GuestArchUnavailableException refused = assertThrows(GuestArchUnavailableException.class,
                () -> manager.create(ofArch("aarch64")));
        assertEquals("no qemu-system-aarch64 here", refused.getMessage());
        InvalidRequestException unknown = assertThrows(InvalidRequestException.class, () -> manager.create(ofArch("sparc")));
        assertTrue(unknown.getMessage().contains("spec.arch 'sparc'"), unknown.getMessage());
        assertEquals(2, hypervisor.specs.size(), "nothing else booted");
        assertEquals(2, manager.list(Map.of()).size());
    }

    @Test
    void aNetworkPolicyTheBackendCannotEnforceIsRefusedBeforeAnythingBoots() {
        NetworkPolicy egressPolicy = new NetworkPolicy(NetworkMode.EGRESS, List.of("pypi.org"), List.of());
        VmOperationUnsupportedException e = assertThrows(VmOperationUnsupportedException.class,
                () -> manager.create(withNetwork(egressPolicy)));
        assertTrue(e.getMessage().contains("the fake backend has no guest networking"), e.getMessage());
        assertEquals(List.of(), hypervisor.specs, "nothing booted");
        assertEquals(List.of(), manager.list(Map.of()));
        assertEquals(Map.of(), egressOpen);
    }

    @Test
    void egressServesAProxyForTheVmsLifeAndTellsTheAgentWhereItIs() throws Exception {
        hypervisor.networking = true;
        SandboxRecord r = manager.create(withNetwork(new NetworkPolicy(NetworkMode.EGRESS, List.of("pypi.org"),
                List.of(new PortForward(0, 80)))));

        Path socket = state.resolve("vms/" + r.id() + "/egress.sock");
        assertEquals(socket, egressOpen.get(r.id()));
        var network = hypervisor.specs.get(0).network();
        assertEquals(socket, network.egressSocket());
        assertEquals(80, network.forwards().get(0).guestPort());
        assertTrue(network.forwards().get(0).hostPort() > 0, "a host port was picked");
        assertEquals(network.forwards(), r.vm().portForwards(), "the record holds the ports in force");
        assertEquals(0, r.config().network().forwards().get(0).hostPort(), "the spec keeps what was asked");
        var told = agents.configured.get(0);
        assertEquals("10.0.2.15/24", told.getNetwork().getAddressCidr());
        assertEquals("http://mine:1", told.getEnvMap().get("http_proxy"), "the sandbox's own env wins");
        assertEquals("http://10.0.2.100:3128", told.getEnvMap().get("HTTPS_PROXY"));

        manager.close(); // a daemon restart: the VM runs on, its proxy is served again
        SandboxManager next = newManager();
        next.recover();
        assertEquals(List.of(r.id()), egressClosed);
        assertEquals(socket, egressOpen.get(r.id()));
        next.delete(r.id());
        assertEquals(List.of(r.id(), r.id()), egressClosed, "deleting the sandbox stops its proxy");
        next.close();
    }

    @Test
    void aSandboxWithoutANetworkHasNoDeviceAndNoProxySettings() throws Exception {
        hypervisor.networking = true;
        manager.create(config(0));
        assertFalse(hypervisor.specs.get(0).network().hasDevice());
        assertFalse(agents.configured.get(0).hasNetwork());
        assertFalse(agents.configured.get(0).getEnvMap().containsKey("http_proxy"));
    }

    @Test
    void createBootsConfiguresAndPersistsAReadySandbox() throws Exception {
        SandboxRecord r = manager.create(config(0));

        assertEquals(SandboxState.READY, r.state());
        assertEquals(256, r.config().memoryMib(), "the daemon's default memory");
        assertEquals("1.2.3", r.imageVersion());
        assertEquals(List.of(SandboxState.CREATING, SandboxState.READY), events.stream().map(e -> e.sandbox().state()).toList());
        var told = agents.configured.get(0);
        assertEquals("C.UTF-8", told.getEnvMap().get("LANG"), "env travels to the agent");
        assertEquals(256 - 64, told.getUserMemoryLimitMib(), "the guest keeps its reserve");
        assertEquals(1024, told.getUserPidsLimit());
        assertTrue(Files.exists(state.resolve("sandboxes/" + r.id() + ".json")), "the record is on disk");
    }

    @Test
    void aFailedBootLeavesNoRecordNoDirectoryAndNoSandbox() {
        hypervisor.failNextBoot = "qemu: could not open /dev/kvm";

        var e = assertThrows(SandboxUnavailableException.class, () -> manager.create(config(0)));

        assertTrue(e.getMessage().contains("could not open /dev/kvm"), e.getMessage());
        assertTrue(manager.list(Map.of()).isEmpty());
        assertFalse(Files.exists(state.resolve("sandboxes/sb1.json")));
        assertFalse(Files.exists(state.resolve("vms/sb1")));
        assertEquals(SandboxState.STOPPED, events.get(events.size() - 1).sandbox().state(), "watchers see it go");
    }

    @Test
    void anAgentThatNeverAnswersFailsTheCreateAndKillsTheVm() {
        agents.unreachable.add("sb1");

        var e = assertThrows(SandboxUnavailableException.class, () -> manager.create(config(0)));

        assertTrue(e.getMessage().contains("the agent did not answer") && e.getMessage().contains("last words of sb1"),
                e.getMessage());
        assertFalse(hypervisor.booted.get(0).isAlive(), "no orphan VM");
        assertTrue(manager.list(Map.of()).isEmpty());
    }

    @Test
    void aResumedSandboxTakesItsOwnHostnameAndRunsItsReadyStepBeforeReady() throws Exception {
        List<SandboxState> statesDuringStep = new java.util.ArrayList<>();
        var saved = new dev.kelpie.daemon.hypervisor.SavedVmState(state.resolve("m"), state.resolve("d"),
                hypervisor.platform("x86_64"));
        SandboxRecord r = manager.create(config(0), new Launch(java.util.Optional.of(saved),
                agent -> statesDuringStep.add(manager.list(Map.of()).get(0).state())));

        assertEquals(SandboxState.READY, r.state());
        assertEquals(List.of(SandboxState.CREATING), statesDuringStep, "nobody sees it READY before the step ran");
        assertEquals(1, agents.configured.size());
        assertEquals(r.id(), agents.configured.get(0).getHostname(), "not the source's name");
        assertFalse(agents.configured.get(0).hasNetwork(), "a resumed guest's network is set up already");
    }

    @Test
    void aForksCopiesKeepTheSourcesResolvedImageItsArchAndItsIdleAction() throws Exception {
        SandboxRecord source = manager.create(new SandboxConfig("", 0, 0, 0, Map.of(), Map.of(), 0, 60_000, null,
                IdleAction.PAUSE, "aarch64"));

        SandboxRecord copy = manager.fork(source.id(), 1, Map.of()).get(0);

        assertEquals("1.2.3", copy.imageVersion());
        assertEquals("1.2.3", copy.config().imageVersion(), "the version the source resolved, not 'the newest'");
        assertEquals("aarch64", copy.arch());
        assertEquals("aarch64", copy.config().arch());
        assertEquals(IdleAction.PAUSE, copy.config().idleAction());
        assertEquals(60_000, copy.config().idleTimeoutMs());
    }

    @Test
    void aForkMakesReadyCopiesOfOneFrozenInstantEachWithItsOwnDiskHostnameAndGeneration() throws Exception {
        SandboxRecord source = manager.create(config(0));

        List<SandboxRecord> copies = manager.fork(source.id(), 2, Map.of("copy", "yes"));

        assertEquals(2, copies.size());
        for (SandboxRecord copy : copies) {
            assertEquals(SandboxState.READY, copy.state());
            assertEquals(Map.of("team", "a", "copy", "yes"), copy.config().labels());
        }
        assertEquals(2, hypervisor.restoredFrom.size());
        var first = hypervisor.restoredFrom.get(0);
        var second = hypervisor.restoredFrom.get(1);
        assertTrue(first.sharedRam().isPresent(), "copies map the frozen RAM");
        assertEquals(first.sharedRam(), second.sharedRam(), "one frozen instant for every copy");
        assertFalse(first.diskFile().equals(second.diskFile()), "each copy writes its own disk");
        assertFalse(agents.reseeded.get(copies.get(0).id()).getGeneration()
                == agents.reseeded.get(copies.get(1).id()).getGeneration(), "generations differ");
        assertEquals(List.of(source.id(), copies.get(0).id(), copies.get(1).id()),
                agents.configured.stream().map(c -> c.getHostname()).toList());
        assertEquals(SandboxState.READY, manager.get(source.id()).state(), "the source runs on");
        assertFalse(Files.exists(first.sharedRam().get()), "the snapshot's files go once the copies run");
        assertTrue(new DirectorySandboxStore(state, json).runtimeDirIds().stream().noneMatch(id -> id.startsWith("fork-")));
    }

    @Test
    void aPausedSourceIsForkedAsItIsAndStaysPausedWhileItsCopiesRun() throws Exception {
        SandboxRecord source = manager.create(config(0));
        manager.pause(source.id());

        List<SandboxRecord> copies = manager.fork(source.id(), 1, Map.of());

        assertEquals(SandboxState.READY, copies.get(0).state());
        assertEquals(SandboxState.PAUSED, manager.get(source.id()).state(), "the source stays paused");
        assertEquals(SandboxState.READY, manager.resume(source.id()).state());
    }

    @Test
    void aForkBeyondAdmissionMakesNoCopyAtAll() throws Exception {
        SandboxRecord source = manager.create(config(0));

        assertThrows(AdmissionDeniedException.class, () -> manager.fork(source.id(), 3, Map.of()));

        assertEquals(List.of(source.id()), manager.list(Map.of()).stream().map(SandboxRecord::id).toList(),
                "the two copies admitted were deleted again");
        assertEquals(List.of(source.id()), new DirectorySandboxStore(state, json).runtimeDirIds());
    }

    @Test
    void aForkCountOutOfRangeOrOfAMissingSandboxIsRefused() throws Exception {
        SandboxRecord source = manager.create(config(0));
        var e = assertThrows(dev.kelpie.daemon.errors.InvalidRequestException.class,
                () -> manager.fork(source.id(), 17, Map.of()));
        assertTrue(e.getMessage().contains("count must be 1 to 16, got 17"), e.getMessage());
        assertThrows(SandboxNotFoundException.class, () -> manager.fork("nope", 1, Map.of()));
        assertEquals(List.of(source.id()), new DirectorySandboxStore(state, json).runtimeDirIds());
    }

    @Test
    void aRestoredSandboxNamesItsPackageAcrossADaemonRestart() throws Exception {
        SandboxRecord r = manager.create(config(0), new Launch(java.util.Optional.empty(), agent -> {})
                .fromPackage("pkg-7"));
        assertEquals("pkg-7", r.restoredFromPackageId());

        manager.close();
        SandboxManager next = newManager();
        next.recover();
        assertEquals("pkg-7", next.get(r.id()).restoredFromPackageId(), "the record keeps it");
        next.close();
    }

    @Test
    void aFailingReadyStepLeavesNothing() {
        var e = assertThrows(IllegalStateException.class, () -> manager.create(config(0), new Launch(
                java.util.Optional.empty(), agent -> {
                    throw new IllegalStateException("workspace import refused");
                })));

        assertEquals("workspace import refused", e.getMessage());
        assertFalse(hypervisor.booted.get(0).isAlive(), "no orphan VM");
        assertTrue(manager.list(Map.of()).isEmpty());
        assertFalse(Files.exists(state.resolve("sandboxes/sb1.json")));
        assertFalse(Files.exists(state.resolve("vms/sb1")));
    }

    @Test
    void deleteWaitsForAnOperationHoldingTheSandbox() throws Exception {
        SandboxRecord r = manager.create(config(0));
        var inside = new java.util.concurrent.CountDownLatch(1);
        var release = new java.util.concurrent.CountDownLatch(1);
        var snapshot = java.util.concurrent.CompletableFuture.runAsync(() -> {
            try {
                manager.exclusively(r.id(), live -> {
                    inside.countDown();
                    release.await();
                    return null;
                });
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        inside.await();
        Thread delete = new Thread(() -> {
            try {
                manager.delete(r.id());
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        delete.start();
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
        while (delete.getState() != Thread.State.WAITING) {
            assertTrue(System.nanoTime() < deadline, "the delete never parked on the sandbox's lock");
            Thread.onSpinWait();
        }
        assertEquals(SandboxState.READY, manager.get(r.id()).state(), "the delete waits for the operation");
        release.countDown();
        snapshot.join();
        delete.join();
        assertTrue(manager.list(Map.of()).isEmpty());
    }

    @Test
    void aDeleteOfASandboxBeingCreatedCancelsItsBootAndWins() throws Exception {
        hypervisor.bootGate = new java.util.concurrent.CountDownLatch(1);
        var create = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return manager.create(config(0));
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        hypervisor.bootWaiting.get(10, java.util.concurrent.TimeUnit.SECONDS);
        assertEquals(SandboxState.CREATING, manager.get("sb1").state());

        manager.delete("sb1"); // returns once the sandbox is gone; the boot never opened its gate

        var failure = assertThrows(java.util.concurrent.CompletionException.class, create::join);
        assertTrue(failure.getCause() instanceof SandboxDeletedException, String.valueOf(failure.getCause()));
        assertEquals("sandbox sb1 was deleted while it was being created", failure.getCause().getMessage());
        assertThrows(SandboxNotFoundException.class, () -> manager.get("sb1"));
        assertFalse(Files.exists(state.resolve("sandboxes/sb1.json")), "no record came back");
        assertFalse(Files.exists(state.resolve("vms/sb1")), "no runtime directory");
        assertTrue(hypervisor.booted.stream().noneMatch(FakeHypervisor.FakeVm::isAlive), "no VM");
        assertEquals(List.of(SandboxState.CREATING, SandboxState.STOPPING, SandboxState.STOPPED),
                events.stream().map(e -> e.sandbox().state()).toList(), "never READY");
        SandboxManager next = newManager();
        next.recover();
        assertEquals(List.of(), next.list(Map.of()), "nothing reappears after a restart");
        next.close();
    }

    @Test
    void aSecondDeleteWaitsForTheFirstAndBothSucceed() throws Exception {
        SandboxRecord r = manager.create(config(0));
        hypervisor.booted.get(0).stopGate = new java.util.concurrent.CountDownLatch(1);
        Thread first = Thread.ofVirtual().start(() -> {
            try {
                manager.delete(r.id());
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        hypervisor.booted.get(0).stopWaiting.get(10, java.util.concurrent.TimeUnit.SECONDS);
        var second = java.util.concurrent.CompletableFuture.runAsync(() -> {
            try {
                manager.delete(r.id());
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        assertThrows(java.util.concurrent.TimeoutException.class, () -> second.get(200,
                java.util.concurrent.TimeUnit.MILLISECONDS), "the second delete waits while the first runs");
        hypervisor.booted.get(0).stopGate.countDown();
        second.get(10, java.util.concurrent.TimeUnit.SECONDS);
        first.join();
        assertThrows(SandboxNotFoundException.class, () -> manager.get(r.id()));
    }

    @Test
    void theLifecycleAllowsOnlyItsTransitions() {
        assertTrue(SandboxState.CREATING.canBecome(SandboxState.STOPPING));
        assertTrue(SandboxState.FAILED.canBecome(SandboxState.STOPPING));
        assertFalse(SandboxState.STOPPING.canBecome(SandboxState.READY));
        assertFalse(SandboxState.FAILED.canBecome(SandboxState.READY));
        assertFalse(SandboxState.STOPPED.canBecome(SandboxState.STOPPED));
        assertFalse(SandboxState.PAUSED.canBecome(SandboxState.CREATING));
        assertTrue(SandboxState.READY.canBecome(SandboxState.SUSPENDED));
        assertTrue(SandboxState.SUSPENDED.canBecome(SandboxState.READY));
        assertTrue(SandboxState.SUSPENDED.canBecome(SandboxState.STOPPING));
        assertFalse(SandboxState.SUSPENDED.canBecome(SandboxState.PAUSED));
        assertFalse(SandboxState.PAUSED.canBecome(SandboxState.SUSPENDED), "only a running guest is suspended");
        assertFalse(SandboxState.SUSPENDED.holdsVm());
        assertTrue(SandboxState.SUSPENDED.reservesRoom(), "its resume is never refused for want of room");
    }

    @Test
    void aChangeTheLifecycleForbidsIsRefusedAndNotSaved() throws Exception {
        DirectorySandboxStore store = new DirectorySandboxStore(state, json);
        SandboxRegistry registry = new SandboxRegistry(store, new UsageAccounting(VmCpuTime.NONE,
                new SandboxNetworks(SandboxNetworks.NO_EGRESS, store::runtimeDir), java.time.Clock.systemUTC()));
        Sandbox sandbox = new Sandbox(new SandboxRecord("sbx", config(0), SandboxState.CREATING, "", 0, "fake",
                "x86_64", "1.0.0", false, null, 0, "", null));
        registry.add(sandbox);
        registry.update(sandbox, r -> r.withState(SandboxState.STOPPING));

        var e = assertThrows(SandboxStateException.class, () -> registry.update(sandbox,
                r -> r.withState(SandboxState.READY)));
        assertEquals("sandbox sbx is stopping; it cannot become ready", e.getMessage());
        assertTrue(Files.readString(state.resolve("sandboxes/sbx.json")).contains("STOPPING"));
        registry.remove(sandbox);
        assertThrows(SandboxStateException.class, () -> registry.update(sandbox, r -> r), "nothing after the end");
        assertFalse(Files.exists(state.resolve("sandboxes/sbx.json")));
    }

    @Test
    void pooledVmsCountAgainstTheLimitsAndMakeWayForASandbox() throws Exception {
        manager.startWarmPool(2, ""); // 2 pooled VMs of 256 MiB; the host has room for 3 VMs and 1024 MiB
        SandboxRecord big = manager.create(config(512)); // 3 VMs, 1024 MiB: the host is full
        assertEquals(2, manager.warmPoolStatus().orElseThrow().ready());

        SandboxRecord other = manager.create(new SandboxConfig("", 2, 256, 0, Map.of(), Map.of(), 0, 0, null));

        assertFalse(other.fromPool(), "another shape boots its own VM");
        assertEquals(1, manager.warmPoolStatus().orElseThrow().ready(), "a waiting pooled VM made way for it");
        assertEquals(3, hypervisor.booted.stream().filter(FakeHypervisor.FakeVm::isAlive).count(), "never more than 3");
        var denied = assertThrows(AdmissionDeniedException.class, () -> manager.create(config(512)));
        assertTrue(denied.getMessage().contains("the warm pool holds 1 VMs of 256 MiB"), denied.getMessage());
        assertEquals(1, manager.warmPoolStatus().orElseThrow().ready(), "draining would not have been enough: none was");

        manager.delete(big.id());
        assertEquals(2, manager.warmPoolStatus().orElseThrow().ready(), "the freed room refills the pool");
    }

    @Test
    void activityIsSavedByTheReaperSoARestartedDaemonTimesIdlenessFromIt() throws Exception {
        SandboxRecord r = manager.create(new SandboxConfig("", 0, 0, 0, Map.of(), Map.of(), 0, 60_000, null));
        clock.advance(Duration.ofSeconds(50));
        manager.agent(r.id()); // an exec
        assertEquals(List.of(), manager.reapExpired());
        manager.close();

        SandboxManager next = newManager();
        next.recover();
        clock.advance(Duration.ofSeconds(20)); // 70 s after the create, 20 s after the exec
        assertEquals(List.of(), next.reapExpired(), "idle only 20 s");
        clock.advance(Duration.ofSeconds(41));
        assertEquals(List.of(r.id()), next.reapExpired());
        next.close();
    }

    @Test
    void admissionRejectsWithTheNumbers() throws Exception {
        manager.create(config(512));
        manager.create(config(512));

        var memory = assertThrows(AdmissionDeniedException.class, () -> manager.create(config(256)));
        assertEquals("memory_mib 256 does not fit: sandboxes use 1024 MiB of the host's 1024 MiB budget (0 MiB free)",
                memory.getMessage());
        var shape = assertThrows(AdmissionDeniedException.class, () -> manager.create(config(1024)));
        assertEquals("memory_mib 1024 exceeds the per-sandbox limit of 512 MiB", shape.getMessage());
        assertEquals(2, hypervisor.booted.size(), "nothing booted for a rejected create");
    }

    private static SandboxConfig disk(int memoryMib, long diskSizeMib) {
        return new SandboxConfig("", 0, memoryMib, diskSizeMib, Map.of(), Map.of(), 0, 0, null);
    }

    @Test
    void aBiggerDiskIsAskedOfTheHypervisorAndReportedWhileMemoryAloneIsBudgeted() throws Exception {
        // 2 x 4096 MiB of sparse disk beside 2 x 512 MiB of memory: the 1024 MiB memory budget is met, not exceeded.
        SandboxRecord big = manager.create(disk(512, 4096));
        SandboxRecord other = manager.create(disk(512, 1536));

        assertEquals(4096, big.config().diskSizeMib(), "the record holds the size asked for");
        assertEquals(4096, hypervisor.specs.get(0).diskSizeMib(), "the VM's disk is grown to it");
        assertEquals(1536, hypervisor.specs.get(1).diskSizeMib());
        assertEquals(1536, manager.get(other.id()).config().diskSizeMib(), "Get reports the real size");
    }

    @Test
    void aSandboxThatAsksForNoSizeHasTheTemplatesAndSaysSo() throws Exception {
        SandboxRecord r = manager.create(config(0));

        assertEquals(OneImage.IMAGE.diskTemplateSizeMib(), r.config().diskSizeMib());
        assertEquals(OneImage.IMAGE.diskTemplateSizeMib(), hypervisor.specs.get(0).diskSizeMib());
    }

    @Test
    void aDiskSmallerThanTheTemplateIsAnInvalidSpecNamingBothSizes() {
        var e = assertThrows(dev.kelpie.daemon.errors.InvalidRequestException.class, () -> manager.create(disk(0, 512)));

        assertEquals("disk_size_mib 512 is smaller than image 1.2.3's writable disk of 1024 MiB; a disk can grow but"
                + " not shrink (ask for 0 or at least 1024)", e.getMessage());
        assertEquals(0, hypervisor.booted.size(), "nothing booted");
        assertTrue(manager.list(Map.of()).isEmpty(), "no record");
    }

    @Test
    void aDiskAboveTheOperatorsLimitIsRefusedWithTheLimit() {
        var e = assertThrows(AdmissionDeniedException.class, () -> manager.create(disk(0, 4097)));

        assertEquals("disk_size_mib 4097 exceeds the per-sandbox limit of 4096 MiB", e.getMessage());
        assertEquals(0, hypervisor.booted.size(), "nothing booted");
    }

    @Test
    void aPooledVmWithTheTemplatesDiskServesNoCreateAskingForAnother() throws Exception {
        manager.startWarmPool(1, "");

        SandboxRecord bigger = manager.create(disk(0, 2048));

        assertFalse(bigger.fromPool(), "a pooled VM's disk is the template's; a bigger one boots its own VM");
        assertEquals(List.of(1024L, 2048L), hypervisor.specs.stream().map(spec -> spec.diskSizeMib()).toList(),
                "the pooled VM booted with the template's disk, the sandbox with its own");
        assertEquals(0, manager.warmPoolStatus().orElseThrow().takenTotal());
        SandboxRecord template = manager.create(disk(0, OneImage.IMAGE.diskTemplateSizeMib()));
        assertTrue(template.fromPool(), "asking for the template's size by number is the pool's shape");
    }

    @Test
    void aVmThatDiesFailsItsSandboxWithTheConsoleTail() throws Exception {
        SandboxRecord r = manager.create(config(0));

        hypervisor.booted.get(0).crash();

        SandboxRecord failed = manager.get(r.id());
        assertEquals(SandboxState.FAILED, failed.state());
        assertTrue(failed.failureReason().contains("exited unexpectedly") && failed.failureReason().contains("last words of"),
                failed.failureReason());
        assertTrue(manager.unavailabilityReason(r.id()).orElseThrow().contains("failed"));
        assertThrows(SandboxStateException.class, () -> manager.agent(r.id()));
    }

    @Test
    void aNewManagerAdoptsLiveVmsFailsDeadOnesAndCleansOrphanDirectories() throws Exception {
        SandboxRecord live = manager.create(config(0));
        SandboxRecord dead = manager.create(config(0));
        Files.createDirectories(state.resolve("vms/orphan"));
        manager.close(); // the daemon goes away; its VMs do not
        hypervisor.booted.get(1).crash();
        // The daemon died in the middle of a snapshot, with the VM's vCPUs stopped.
        hypervisor.booted.get(0).pause();

        SandboxManager next = newManager();
        next.recover();
        assertFalse(hypervisor.booted.get(0).paused, "a READY sandbox's VM runs again after re-adoption");

        assertEquals(SandboxState.READY, next.get(live.id()).state());
        assertTrue(next.agent(live.id()) != null, "the live sandbox's agent is dialled again");
        assertEquals(SandboxState.FAILED, next.get(dead.id()).state());
        assertTrue(next.get(dead.id()).failureReason().contains("ended while the daemon was down"));
        assertFalse(Files.exists(state.resolve("vms/orphan")), "a directory without a record is removed");
        assertTrue(hypervisor.leftoversKilled.contains(state.resolve("vms/orphan")), "after killing what ran there");
        next.close();
    }

    @Test
    void expiredAndIdleSandboxesAreReapedOnTheClock() throws Exception {
        SandboxRecord ttl = manager.create(new SandboxConfig("", 0, 0, 0, Map.of(), Map.of(), 60_000, 0, null));
        SandboxRecord idle = manager.create(new SandboxConfig("", 0, 0, 0, Map.of(), Map.of(), 0, 30_000, null));

        clock.advance(Duration.ofSeconds(29));
        assertEquals(List.of(), manager.reapExpired());
        manager.touch(idle.id());
        clock.advance(Duration.ofSeconds(29));
        assertEquals(List.of(), manager.reapExpired(), "activity postponed the idle timeout");
        clock.advance(Duration.ofSeconds(2));
        assertEquals(List.of(ttl.id(), idle.id()), manager.reapExpired());
        assertTrue(manager.list(Map.of()).isEmpty());
    }

    @Test
    void reapingGoesOnPastADeleteThatFails() throws Exception {
        SandboxRecord first = manager.create(new SandboxConfig("", 0, 0, 0, Map.of(), Map.of(), 60_000, 0, null));
        SandboxRecord second = manager.create(new SandboxConfig("", 0, 0, 0, Map.of(), Map.of(), 60_000, 0, null));
        hypervisor.booted.get(0).failStop = new VmException("the VMM does not answer");

        clock.advance(Duration.ofMinutes(2));
        assertEquals(List.of(second.id()), manager.reapExpired(), "the second is reaped although the first failed");
        assertEquals(List.of(first.id()), manager.list(Map.of()).stream().map(SandboxRecord::id).toList());
    }

    @Test
    void aListenerThatThrowsFailsNeitherTheChangeNorTheOtherListeners() throws Exception {
        List<SandboxState> heard = new CopyOnWriteArrayList<>();
        manager.events().subscribe(e -> {
            throw new IllegalStateException("a broken watcher");
        });
        manager.events().subscribe(e -> heard.add(e.sandbox().state()));

        SandboxRecord r = manager.create(config(0));
        assertEquals(SandboxState.READY, r.state());
        manager.delete(r.id());
        assertEquals(List.of(SandboxState.CREATING, SandboxState.READY, SandboxState.STOPPING, SandboxState.STOPPED),
                heard);
    }

    @Test
    void listenersRunOutsideTheSandboxesLocksAndMayActOnIt() throws Exception {
        List<SandboxState> pausedByListener = new CopyOnWriteArrayList<>();
        manager.events().subscribe(e -> {
            if (e.sandbox().state() == SandboxState.READY && e.previousState() == SandboxState.CREATING) {
                // Another thread acts on the sandbox while the listener waits for it: a listener called under the
                // sandbox's monitor would deadlock here.
                var pause = java.util.concurrent.CompletableFuture.supplyAsync(() -> manager.pause(e.sandbox().id()));
                try {
                    pausedByListener.add(pause.get(10, java.util.concurrent.TimeUnit.SECONDS).state());
                } catch (Exception failure) {
                    throw new IllegalStateException(failure);
                }
            }
        });

        SandboxRecord r = manager.create(config(0));

        assertEquals(List.of(SandboxState.PAUSED), pausedByListener);
        assertEquals(SandboxState.PAUSED, manager.get(r.id()).state());
    }

    @Test
    void pauseAndResumeFollowTheStateMachine() throws Exception {
        SandboxRecord r = manager.create(config(0));

        assertEquals(SandboxState.PAUSED, manager.pause(r.id()).state());
        assertTrue(hypervisor.booted.get(0).paused);
        assertThrows(SandboxStateException.class, () -> manager.pause(r.id()));
        assertThrows(SandboxStateException.class, () -> manager.agent(r.id()), "no exec in a paused sandbox");
        assertEquals(SandboxState.READY, manager.resume(r.id()).state());
        assertFalse(hypervisor.booted.get(0).paused);
    }

    @Test
    void theWarmPoolServesACreateAndRefills() throws Exception {
        manager.startWarmPool(1, "");
        assertEquals(1, manager.warmPoolStatus().orElseThrow().ready());

        SandboxRecord r = manager.create(config(0));

        assertTrue(r.fromPool());
        assertEquals(hypervisor.booted.get(0).record().vmId(), r.id(), "the pooled VM became the sandbox");
        var status = manager.warmPoolStatus().orElseThrow();
        assertEquals(1, status.ready(), "refilled");
        assertEquals(1, status.takenTotal());
        assertEquals(2, hypervisor.booted.size());
        SandboxRecord other = manager.create(new SandboxConfig("", 2, 0, 0, Map.of(), Map.of(), 0, 0, null));
        assertFalse(other.fromPool(), "another shape boots its own VM");
    }

    @Test
    void aWarmPoolOfTheOtherArchServesOnlyCreatesOfThatArch() throws Exception {
        manager.startWarmPool(1, "aarch64");
        assertEquals("aarch64", manager.warmPoolStatus().orElseThrow().arch());
        assertEquals("aarch64", hypervisor.specs.get(0).image().arch());

        assertFalse(manager.create(ofArch("")).fromPool(), "a host-arch create boots its own VM");
        SandboxRecord emulated = manager.create(ofArch("aarch64"));
        assertTrue(emulated.fromPool());
        assertEquals("aarch64", emulated.arch());
        assertEquals(Map.of("1.2.3/aarch64", 2, "1.2.3/x86_64", 1), manager.imageUsage(), "the refilled pool counts too");
    }

    @Test
    void aPooledVmThatDiesIsReplacedAndNeverServesACreate() throws Exception {
        manager.startWarmPool(1, "");
        FakeHypervisor.FakeVm pooled = hypervisor.booted.get(0);

        pooled.crash();

        var status = manager.warmPoolStatus().orElseThrow();
        assertEquals(1, status.ready(), "a replacement booted");
        assertTrue(status.lastError().contains("exited while waiting"), status.lastError());
        assertFalse(Files.exists(state.resolve("vms/" + pooled.record().vmId())), "the dead VM's files are gone");
        SandboxRecord r = manager.create(config(0));
        assertEquals(hypervisor.booted.get(1).record().vmId(), r.id(), "the create got the replacement");
    }

    @Test
    void aDeleteTheDaemonDiedInIsFinishedByTheNextDaemon() throws Exception {
        SandboxRecord r = manager.create(config(0));
        manager.close();
        // The daemon died right after recording STOPPING: the record says so and the VM still runs.
        new DirectorySandboxStore(state, json).save(r.withState(SandboxState.STOPPING));

        SandboxManager next = newManager();
        next.recover();

        assertThrows(SandboxNotFoundException.class, () -> next.get(r.id()));
        assertFalse(hypervisor.booted.get(0).isAlive(), "its VM is gone");
        assertFalse(Files.exists(state.resolve("sandboxes/" + r.id() + ".json")), "and its record");
        assertFalse(Files.exists(state.resolve("vms/" + r.id())), "and its files");
        next.close();
    }

    @Test
    void aReadoptedSandboxWhoseAgentNeverAnswersFailsAndLosesItsVm() throws Exception {
        SandboxRecord r = manager.create(config(0));
        manager.close();
        agents.unreachable.add(r.id());

        SandboxManager next = newManager();
        next.recover(); // its background work, the redial, runs at once here

        assertEquals(SandboxState.FAILED, next.get(r.id()).state(), "not READY without an agent");
        assertTrue(next.get(r.id()).failureReason().contains("did not answer"), next.get(r.id()).failureReason());
        assertFalse(hypervisor.booted.get(0).isAlive(), "a FAILED sandbox holds no VM");
        assertFalse(Files.exists(state.resolve("vms/" + r.id())));
        next.close();
    }

    // ---- idle actions (ADR 0029) -------------------------------------------------------------------------------

    private static SandboxConfig idle(IdleAction action, long timeoutMs) {
        return new SandboxConfig("", 0, 0, 0, Map.of(), Map.of(), 0, timeoutMs, null, action, "");
    }

    private Path suspendedState(String id) {
        return state.resolve("vms/" + id + "/" + SavedStateSuspension.STATE_DIR);
    }

    @Test
    void anIdleSnapshotSandboxIsSuspendedAndTheNextCallResumesItOnce() throws Exception {
        SandboxRecord r = manager.create(idle(IdleAction.SNAPSHOT, 30_000));
        FakeHypervisor.FakeVm first = hypervisor.booted.get(0);
        clock.advance(Duration.ofSeconds(29));
        manager.reapExpired();
        assertEquals(SandboxState.READY, manager.get(r.id()).state());

        clock.advance(Duration.ofSeconds(2));
        assertEquals(List.of(), manager.reapExpired(), "suspended, not deleted");
        SandboxRecord suspended = manager.get(r.id());
        assertEquals(SandboxState.SUSPENDED, suspended.state());
        assertTrue(suspended.idled());
        assertEquals(null, suspended.vm());
        assertFalse(first.isAlive(), "its VM process ended");
        assertTrue(Files.isRegularFile(suspendedState(r.id()).resolve("memory")));
        assertEquals(0, manager.runningCount(), "it holds no VM");

        var racers = java.util.concurrent.Executors.newFixedThreadPool(2);
        try {
            var a = racers.submit(() -> manager.agent(r.id()));
            var b = racers.submit(() -> manager.agent(r.id()));
            a.get(10, java.util.concurrent.TimeUnit.SECONDS);
            b.get(10, java.util.concurrent.TimeUnit.SECONDS);
        } finally {
            racers.shutdownNow();
        }
        assertEquals(1, hypervisor.restoredFrom.size(), "two callers resumed it once");
        SandboxRecord back = manager.get(r.id());
        assertEquals(SandboxState.READY, back.state());
        assertFalse(back.idled());
        assertTrue(back.vm() != null && hypervisor.booted.get(1).isAlive());
        assertFalse(Files.exists(suspendedState(r.id())), "the state is discarded once it runs again");
        assertEquals(List.of(SandboxState.CREATING, SandboxState.READY, SandboxState.SUSPENDED, SandboxState.READY),
                events.stream().filter(e -> e.sandbox().id().equals(r.id()))
                        .map(e -> e.sandbox().state()).toList());
    }

    @Test
    void aCallOrStreamInFlightKeepsASandboxFromItsIdleAction() throws Exception {
        SandboxRecord r = manager.create(idle(IdleAction.SNAPSHOT, 30_000));
        SandboxManager.InFlight attach = manager.inFlight(r.id());
        clock.advance(Duration.ofMinutes(5));
        manager.reapExpired();
        assertEquals(SandboxState.READY, manager.get(r.id()).state(), "an attached stream is activity");

        attach.close();
        attach.close();
        clock.advance(Duration.ofSeconds(29));
        manager.reapExpired();
        assertEquals(SandboxState.READY, manager.get(r.id()).state(), "idleness counts from the stream's end");
        clock.advance(Duration.ofSeconds(2));
        manager.reapExpired();
        assertEquals(SandboxState.SUSPENDED, manager.get(r.id()).state());
    }

    @Test
    void aSuspendedSandboxStaysSuspendedOverARestartAndABusyOneIsNotTakenForIdle() throws Exception {
        SandboxRecord idleOne = manager.create(idle(IdleAction.SNAPSHOT, 30_000));
        SandboxRecord busy = manager.create(idle(IdleAction.SNAPSHOT, 30_000));
        SandboxManager.InFlight exec = manager.inFlight(busy.id());
        clock.advance(Duration.ofSeconds(31));
        manager.reapExpired();
        assertEquals(SandboxState.SUSPENDED, manager.get(idleOne.id()).state());
        assertEquals(SandboxState.READY, manager.get(busy.id()).state());
        manager.close(); // the daemon stops while the exec runs: its stream ends with it

        SandboxManager next = newManager();
        next.recover();
        assertEquals(SandboxState.SUSPENDED, next.get(idleOne.id()).state());
        assertTrue(hypervisor.leftoversKilled.contains(state.resolve("vms/" + idleOne.id())),
                "a VMM a suspend or resume left behind is ended");
        next.reapExpired();
        assertEquals(SandboxState.READY, next.get(busy.id()).state(), "busy until the restart: idle only from there");
        clock.advance(Duration.ofSeconds(31));
        next.reapExpired();
        assertEquals(SandboxState.SUSPENDED, next.get(busy.id()).state());

        next.agent(idleOne.id());
        assertEquals(SandboxState.READY, next.get(idleOne.id()).state());
        next.delete(busy.id());
        assertFalse(Files.exists(state.resolve("vms/" + busy.id())), "deleting a suspended sandbox removes its state");
        next.close();
    }

    @Test
    void aSuspendedSandboxWithoutItsStateFailsOnRecoveryWithTheReason() throws Exception {
        SandboxRecord r = manager.create(idle(IdleAction.SNAPSHOT, 30_000));
        clock.advance(Duration.ofSeconds(31));
        manager.reapExpired();
        manager.close();
        Files.delete(suspendedState(r.id()).resolve("memory"));

        SandboxManager next = newManager();
        next.recover();
        SandboxRecord failed = next.get(r.id());
        assertEquals(SandboxState.FAILED, failed.state());
        assertTrue(failed.failureReason().contains("suspended state is missing"), failed.failureReason());
        next.close();
    }

    @Test
    void aDeleteDuringAResumeWinsAndLeavesNothing() throws Exception {
        SandboxRecord r = manager.create(idle(IdleAction.SNAPSHOT, 30_000));
        clock.advance(Duration.ofSeconds(31));
        manager.reapExpired();
        hypervisor.bootGate = new java.util.concurrent.CountDownLatch(1);
        var exec = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return manager.agent(r.id());
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        hypervisor.bootWaiting.get(10, java.util.concurrent.TimeUnit.SECONDS);

        manager.delete(r.id());

        var failure = assertThrows(java.util.concurrent.ExecutionException.class,
                () -> exec.get(10, java.util.concurrent.TimeUnit.SECONDS));
        assertTrue(failure.getCause() instanceof SandboxDeletedException, String.valueOf(failure.getCause()));
        assertThrows(SandboxNotFoundException.class, () -> manager.get(r.id()));
        assertFalse(Files.exists(state.resolve("vms/" + r.id())));
        assertTrue(hypervisor.booted.stream().noneMatch(FakeHypervisor.FakeVm::isAlive), "no VM left");
    }

    @Test
    void pauseOnIdleResumesOnTheNextCallButAClientsPauseDoesNot() throws Exception {
        SandboxRecord idled = manager.create(idle(IdleAction.PAUSE, 30_000));
        SandboxRecord paused = manager.create(idle(IdleAction.PAUSE, 30_000));
        manager.pause(paused.id());
        clock.advance(Duration.ofSeconds(31));
        manager.reapExpired();
        assertEquals(SandboxState.PAUSED, manager.get(idled.id()).state());
        assertTrue(hypervisor.booted.get(0).paused);

        manager.agent(idled.id());
        assertEquals(SandboxState.READY, manager.get(idled.id()).state());
        assertFalse(hypervisor.booted.get(0).paused);
        assertThrows(SandboxStateException.class, () -> manager.agent(paused.id()), "a client's pause is the client's");
    }

    @Test
    void anIdleActionTheBackendCannotTakeIsRefusedAtCreate() {
        hypervisor.pauseUnsupported = "libkrun 1.x cannot pause";
        var e = assertThrows(VmOperationUnsupportedException.class, () -> manager.create(idle(IdleAction.SNAPSHOT, 1000)));
        assertTrue(e.getMessage().contains("idle_action snapshot: libkrun 1.x cannot pause"), e.getMessage());
        assertEquals(List.of(), hypervisor.specs, "nothing booted");
        assertEquals(List.of(), manager.list(Map.of()));
    }
}
