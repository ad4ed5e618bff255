package dev.kelpie.daemon.teleport;

import static dev.kelpie.daemon.teleport.StagingAssertions.assertStagingEmpty;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.datatype.jdk8.Jdk8Module;
import dev.kelpie.daemon.errors.InvalidRequestException;
import dev.kelpie.daemon.hypervisor.GuestArchs;
import dev.kelpie.daemon.images.ImageNotFoundException;
import dev.kelpie.daemon.sandboxes.DirectorySandboxStore;
import dev.kelpie.daemon.sandboxes.FakeHypervisor;
import dev.kelpie.daemon.sandboxes.InProcessAgents;
import dev.kelpie.daemon.sandboxes.OneImage;
import dev.kelpie.daemon.sandboxes.SandboxConfig;
import dev.kelpie.daemon.sandboxes.SandboxLimits;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import dev.kelpie.daemon.sandboxes.SandboxRecord;
import dev.kelpie.daemon.sandboxes.SandboxSettings;
import dev.kelpie.daemon.sandboxes.SandboxState;
import dev.kelpie.teleport.RestoreRejectedException;
import dev.kelpie.teleport.pkg.CorruptPackageException;
import dev.kelpie.teleport.pkg.PackageKind;
import dev.kelpie.teleport.store.LocalPackageStore;
import dev.kelpie.teleport.store.PackageStore;
import io.grpc.StatusRuntimeException;
import java.io.ByteArrayOutputStream;
import dev.kelpie.daemon.network.NetworkMode;
import dev.kelpie.daemon.network.NetworkPolicy;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Snapshot and restore through the real teleport code and a real local store, with the hypervisor and agents as
 * in-process fakes: every step is the test's, no VM. The seams a simulation drives.
 */
class TeleportFlowTest {

    private static final Instant NOW = Instant.parse("2026-11-28T12:00:00Z");

    @TempDir
    Path state;
    private final FakeHypervisor hypervisor = new FakeHypervisor();
    private final InProcessAgents agents = new InProcessAgents();
    private final AtomicInteger ids = new AtomicInteger();
    private SandboxManager manager;
    private StagingArea staging;
    private PackageStore store;
    private Snapshotter snapshotter;
    private Restorer restorer;

    @BeforeEach
    void start() throws IOException {
        Clock clock = Clock.fixed(NOW, ZoneOffset.UTC);
        manager = new SandboxManager(hypervisor, new OneImage(), agents,
                new DirectorySandboxStore(state, new ObjectMapper().registerModule(new Jdk8Module())), clock,
                new SandboxLimits(4, 4096, 4, 1024, 4096),
                new SandboxSettings(GuestArchs.of("x86_64"), 1, 256, Duration.ofSeconds(5), Duration.ofSeconds(1), 2, 64, 1024,
                        Duration.ZERO),
                () -> "sb" + ids.incrementAndGet(), Runnable::run, (id, socket, allowlist, traffic) -> () -> {});
        hypervisor.networking = true;
        staging = new StagingArea(state.resolve("teleport-staging"));
        store = LocalPackageStore.open("local", state.resolve("packages"));
        configure(store);
    }

    private void configure(PackageStore withStore) {
        PackageStores stores = PackageStores.of(List.of(withStore), withStore.name());
        AtomicInteger packages = new AtomicInteger();
        snapshotter = new Snapshotter(manager, new OneImage(), stores, staging, Clock.fixed(NOW, ZoneOffset.UTC),
                () -> "pkg-" + packages.incrementAndGet());
        restorer = new Restorer(manager, new OneImage(), stores, staging, Clock.fixed(NOW, ZoneOffset.UTC),
                new SecureRandom());
    }

    @AfterEach
    void stop() {
        manager.close();
        agents.close();
    }

    private SandboxRecord createWithWorkspace(byte[] tar) throws InterruptedException {
        SandboxRecord r = manager.create(new SandboxConfig("", 0, 0, 0, Map.of("A", "1"), Map.of("team", "t"), 0, 0, null));
        agents.workspaces.put(r.id(), tar);
        return r;
    }

    @Test
    void checkpointRoundTripCarriesWorkspaceEnvAndLabelsAndReseedsTheCopy() throws Exception {
        byte[] tar = tar("src/main.py", "print(1)");
        SandboxRecord source = createWithWorkspace(tar);

        Snapshotter.Snapshot snap = snapshotter.snapshot(source.id(), PackageKind.CHECKPOINT, "", Map.of("by", "test"),
                false);
        assertEquals("pkg-1", snap.manifest().id());
        assertEquals(1, snap.warnings().size(), snap.warnings().toString());
        assertTrue(snap.warnings().get(0).contains("env (A) is stored in the clear in store local"),
                snap.warnings().toString());
        assertEquals(Map.of("team", "t", "by", "test"), snap.manifest().labels());
        assertEquals(SandboxState.READY, manager.get(source.id()).state(), "the source runs on");

        Restorer.Restored restored = restorer.restore("pkg-1", "", "", RestoreOverrides.NONE);
        String copy = restored.sandbox().id();
        assertEquals(SandboxState.READY, restored.sandbox().state());
        assertEquals(Map.of("A", "1"), restored.sandbox().config().env());
        assertArrayEquals(tar, agents.imported.get(copy), "the workspace arrives byte for byte");
        assertEquals(64, agents.reseeded.get(copy).getEntropy().size());
        assertEquals(NOW.toEpochMilli(), agents.reseeded.get(copy).getGeneration());
        assertTrue(hypervisor.restoredFrom.isEmpty(), "a checkpoint boots fresh");
        assertEquals("pkg-1", restored.sandbox().restoredFromPackageId());
        assertEquals("", manager.get(source.id()).restoredFromPackageId(), "a created sandbox names no package");
        assertStagingEmpty(staging);
    }

    private String packageWithNetwork(PackageKind kind, String... allow) throws Exception {
        SandboxRecord source = manager.create(new SandboxConfig("", 0, 0, 0, Map.of(), Map.of(), 0, 0,
                new NetworkPolicy(NetworkMode.EGRESS, List.of(allow), List.of())));
        agents.workspaces.put(source.id(), new byte[0]);
        return snapshotter.snapshot(source.id(), kind, "", Map.of(), true).manifest().id();
    }

    private static RestoreOverrides accepting() {
        return new RestoreOverrides(Map.of(), 0, 0, 0, 0, Optional.empty(), true, "");
    }

    /** Restores, deletes the copy again (the limits here are small) and returns what it was given. */
    private Restorer.Restored restoreAndDelete(String packageId, RestoreOverrides overrides) throws Exception {
        Restorer.Restored restored = restorer.restore(packageId, "", "", overrides);
        manager.delete(restored.sandbox().id());
        return restored;
    }

    @Test
    void aPackageNeverChoosesItsOwnNetwork() throws Exception {
        String publicOnly = packageWithNetwork(PackageKind.CHECKPOINT, "pypi.org");
        Restorer.Restored bare = restoreAndDelete(publicOnly, RestoreOverrides.NONE);
        assertEquals(NetworkPolicy.NONE, bare.sandbox().config().network(), "no network without the caller's word");
        assertTrue(bare.warnings().stream().anyMatch(w -> w.contains("not applied")), bare.warnings().toString());
        assertEquals(List.of("pypi.org"), restoreAndDelete(publicOnly, accepting()).sandbox().config().network().allow(),
                "applied when accepted");

        // The host's loopback (the API's TCP port among its services) and cloud metadata: never from a package.
        for (String internal : List.of("127.0.0.1", "127.0.0.1:7411", "169.254.169.254", "[::1]:7411")) {
            String pkg = packageWithNetwork(PackageKind.CHECKPOINT, "pypi.org", internal);
            InvalidRequestException e = assertThrows(InvalidRequestException.class,
                    () -> restorer.restore(pkg, "", "", accepting()), internal);
            assertTrue(e.getMessage().contains("a package may not open the host's own addresses"), e.getMessage());
            assertEquals(List.of(), manager.list(Map.of()), "nothing was created");
            assertEquals(NetworkPolicy.NONE, restoreAndDelete(pkg, RestoreOverrides.NONE).sandbox().config().network(),
                    "unaccepted, it gets no network at all");
            NetworkPolicy own = new NetworkPolicy(NetworkMode.EGRESS, List.of(internal), List.of());
            assertEquals(own, restoreAndDelete(pkg, new RestoreOverrides(Map.of(), 0, 0, 0, 0, Optional.of(own), false, ""))
                    .sandbox().config().network(), "the caller's own policy may name them");
        }

        // A vm package's VM keeps its NIC: it needs the caller's word or policy.
        String vm = packageWithNetwork(PackageKind.VM, "pypi.org");
        RestoreRejectedException refused = assertThrows(RestoreRejectedException.class,
                () -> restorer.restore(vm, "", "", RestoreOverrides.NONE));
        assertTrue(refused.getMessage().contains("accept_packaged_network"), refused.getMessage());
        assertStagingEmpty(staging);
    }

    @Test
    void envGoesIntoASealedStoreWithoutAWarning() throws Exception {
        java.nio.file.Path keyFile = java.nio.file.Files.writeString(state.resolve("seal.key"),
                java.util.Base64.getEncoder().encodeToString(new byte[32]));
        configure(new dev.kelpie.teleport.store.SealedPackageStore(store,
                dev.kelpie.teleport.store.SealKey.read(keyFile)));
        SandboxRecord source = createWithWorkspace(tar("a", "b"));
        Snapshotter.Snapshot snap = snapshotter.snapshot(source.id(), PackageKind.CHECKPOINT, "", Map.of(), false);
        assertEquals(List.of(), snap.warnings(), "sealed: the env values are not readable in the store");
    }

    @Test
    void vmRoundTripResumesTheSavedStateAndOnlyRenamesIt() throws Exception {
        SandboxRecord source = createWithWorkspace(new byte[0]);
        int configuredBefore = agents.configured.size();

        snapshotter.snapshot(source.id(), PackageKind.VM, "", Map.of(), true);
        assertTrue(manager.list(Map.of()).isEmpty(), "stop_after deletes the source");

        Restorer.Restored restored = restorer.restore("pkg-1", "", "", RestoreOverrides.NONE);
        assertEquals(SandboxState.READY, restored.sandbox().state());
        assertEquals(1, hypervisor.restoredFrom.size());
        assertEquals("pkg-1", manager.get(restored.sandbox().id()).restoredFromPackageId());
        assertEquals(configuredBefore + 1, agents.configured.size());
        var told = agents.configured.get(agents.configured.size() - 1);
        assertEquals(restored.sandbox().id(), told.getHostname(), "the resumed guest takes its own name");
        assertFalse(told.hasNetwork(), "its network is set up already");
        assertFalse(hypervisor.restoredFrom.get(0).memoryKey().isEmpty(),
                "the memory blob's hash names the state, so a backend can freeze it for the next restore");
        assertTrue(agents.reseeded.containsKey(restored.sandbox().id()));
        assertStagingEmpty(staging);
        assertThrows(InvalidRequestException.class, () -> restorer.restore("pkg-1", "", "",
                new RestoreOverrides(Map.of(), 0, 0, 2, 0, java.util.Optional.empty(), false, "")), "a vm package keeps its shape");
    }

    @Test
    void aRestoredSandboxHasTheDiskSizeOfItsSource() throws Exception {
        SandboxRecord source = manager.create(new SandboxConfig("", 0, 0, 2048, Map.of(), Map.of(), 0, 0, null));
        agents.workspaces.put(source.id(), tar("a", "1"));
        snapshotter.snapshot(source.id(), PackageKind.CHECKPOINT, "", Map.of(), false);
        snapshotter.snapshot(source.id(), PackageKind.VM, "", Map.of(), true);

        SandboxRecord checkpoint = restorer.restore("pkg-1", "", "", RestoreOverrides.NONE).sandbox();
        assertEquals(2048, checkpoint.config().diskSizeMib(), "a checkpoint's workspace gets the room it had");
        assertEquals(2048, hypervisor.specs.get(hypervisor.specs.size() - 1).diskSizeMib(), "its fresh disk is grown");
        SandboxRecord vm = restorer.restore("pkg-2", "", "", RestoreOverrides.NONE).sandbox();
        assertEquals(2048, vm.config().diskSizeMib(), "a vm package resumes on its saved disk, and says its size");
    }

    @Test
    void aStoreThatFailsToPublishLeavesNoPackageAndNoStagingAndTheSandboxRunsOn() throws Exception {
        SandboxRecord source = createWithWorkspace(tar("f", "x"));
        configure(new FailingStore(store));

        assertThrows(IOException.class, () -> snapshotter.snapshot(source.id(), PackageKind.CHECKPOINT, "", Map.of(),
                true));
        assertEquals(List.of(), store.list());
        assertEquals(SandboxState.READY, manager.get(source.id()).state(), "a failed snapshot stops nothing");
        assertStagingEmpty(staging);
    }

    @Test
    void aCorruptPackageIsRefusedBeforeAnyVmBoots() throws Exception {
        SandboxRecord source = createWithWorkspace(tar("f", "x".repeat(10_000)));
        snapshotter.snapshot(source.id(), PackageKind.CHECKPOINT, "", Map.of(), true);
        PackageFixtures.flipByteOfWorkspace(state.resolve("packages"), "pkg-1");
        int booted = hypervisor.booted.size();

        assertThrows(CorruptPackageException.class, () -> restorer.restore("pkg-1", "", "", RestoreOverrides.NONE));
        assertEquals(booted, hypervisor.booted.size(), "no VM for a corrupt package");
        assertTrue(manager.list(Map.of()).isEmpty());
        assertStagingEmpty(staging);
    }

    @Test
    void aRefusedImportOrAGateRejectionLeavesNoSandboxAndNoVm() throws Exception {
        SandboxRecord source = createWithWorkspace(tar("f", "x"));
        snapshotter.snapshot(source.id(), PackageKind.CHECKPOINT, "", Map.of(), true);
        agents.refuseImport.add("sb2");

        var refused = assertThrows(StatusRuntimeException.class,
                () -> restorer.restore("pkg-1", "", "", RestoreOverrides.NONE));
        assertTrue(refused.getMessage().contains("rejected"), refused.getMessage());
        assertTrue(manager.list(Map.of()).isEmpty());
        assertFalse(hypervisor.booted.get(hypervisor.booted.size() - 1).isAlive(), "the copy's VM is gone");

        assertThrows(RestoreRejectedException.class, () -> restorer.restore("pkg-1", "", "2.0.0", RestoreOverrides.NONE));
        assertThrows(ImageNotFoundException.class, () -> restorer.restore("pkg-1", "", "1.2.9", RestoreOverrides.NONE));
        assertTrue(manager.list(Map.of()).isEmpty());
        assertStagingEmpty(staging);
    }

    private static byte[] tar(String name, String content) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
            byte[] bytes = content.getBytes(StandardCharsets.UTF_8);
            TarArchiveEntry e = new TarArchiveEntry(name);
            e.setSize(bytes.length);
            tar.putArchiveEntry(e);
            tar.write(bytes);
            tar.closeArchiveEntry();
        }
        return out.toByteArray();
    }

    /** A store whose publish fails after the package was written, as a full disk or a dropped bucket would. */
    private record FailingStore(PackageStore real) implements PackageStore {
        @Override
        public String name() {
            return real.name();
        }

        @Override
        public String location() {
            return real.location();
        }

        @Override
        public void publish(String id, Path packageDir) throws IOException {
            throw new IOException("No space left on device");
        }

        @Override
        public List<String> list() throws IOException {
            return real.list();
        }

        @Override
        public Optional<byte[]> readManifest(String id, int maxBytes) throws IOException {
            return real.readManifest(id, maxBytes);
        }

        @Override
        public InputStream openBlob(String id, String blobName) throws IOException {
            return real.openBlob(id, blobName);
        }

        @Override
        public boolean delete(String id) throws IOException {
            return real.delete(id);
        }
    }
}
