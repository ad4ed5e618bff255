package dev.kelpie.daemon.teleport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.datatype.jdk8.Jdk8Module;
import dev.kelpie.daemon.hypervisor.GuestArchs;
import dev.kelpie.daemon.images.BootImage;
import dev.kelpie.daemon.images.oci.OciBoot;
import dev.kelpie.daemon.images.oci.OciBootSource;
import dev.kelpie.daemon.images.oci.OciDescriptor;
import dev.kelpie.daemon.images.oci.OciImage;
import dev.kelpie.daemon.images.oci.OciImageConfig;
import dev.kelpie.daemon.images.oci.OciPlatform;
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
import dev.kelpie.daemon.sandboxes.VmCpuTime;
import dev.kelpie.teleport.RestoreRejectedException;
import dev.kelpie.teleport.pkg.PackageKind;
import dev.kelpie.teleport.pkg.PackageReader;
import dev.kelpie.teleport.store.LocalPackageStore;
import dev.kelpie.teleport.store.PackageStore;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Teleport of sandboxes from OCI images through the real Snapshotter, Restorer and SandboxManager on a fake
 * hypervisor: a {@code vm} package pins the sha256 of the root it booted and resumes only on that root, and a
 * restore that pulled its image for itself and is then refused, or fails later, takes the image out again.
 */
class OciTeleportFlowTest {

    private static final String SHA = "1".repeat(64);
    private static final String ROOT = "a".repeat(64);
    private static final String REFERENCE = "registry:5000/team/tool:1";

    @TempDir
    Path state;
    private final FakeHypervisor hypervisor = new FakeHypervisor();
    private final InProcessAgents agents = new InProcessAgents();
    private final AtomicInteger ids = new AtomicInteger();
    private final FakeOci oci = new FakeOci();
    private SandboxManager manager;
    private Snapshotter snapshotter;
    private Restorer restorer;
    private PackageStore store;

    /** The image cache as far as this test needs it: which digests are cached, and what each root hashes to. */
    private static final class FakeOci implements OciBootSource {
        final Set<String> cached = ConcurrentHashMap.newKeySet();
        final List<String> discarded = new CopyOnWriteArrayList<>();
        volatile String rootSha256 = ROOT;

        @Override
        public OciBoot prepare(String reference, BootImage base) {
            boolean pulled = cached.add(SHA);
            OciImage image = new OciImage(SHA, 1, "registry:5000/team/tool", List.of(reference), new OciImageConfig(
                    OciPlatform.forArch("x86_64"), List.of(), "", "", List.of(), List.of()), new OciDescriptor(
                    "application/vnd.oci.image.config.v1+json", "2".repeat(64), 2), List.of(), 0);
            return new OciBoot(base, image, reference, rootSha256, pulled, null);
        }

        @Override
        public void discard(OciBoot boot, Supplier<List<String>> users) {
            if (users.get().isEmpty() && cached.remove(boot.oci().manifestSha256())) {
                discarded.add(boot.oci().manifestDigest());
            }
        }
    }

    @BeforeEach
    void start() throws Exception {
        manager = new SandboxManager(hypervisor, new OneImage(), agents,
                new DirectorySandboxStore(state, new ObjectMapper().registerModule(new Jdk8Module())),
                Clock.systemUTC(), new SandboxLimits(4, 4096, 4, 1024, 4096),
                new SandboxSettings(GuestArchs.of("x86_64"), 1, 256, Duration.ofSeconds(5), Duration.ofSeconds(1), 2,
                        64, 1024, Duration.ZERO),
                () -> "sb" + ids.incrementAndGet(), Runnable::run, (id, socket, allowlist, traffic) -> () -> {},
                VmCpuTime.NONE, oci);
        StagingArea staging = new StagingArea(state.resolve("teleport-staging"));
        store = LocalPackageStore.open("local", state.resolve("packages"));
        PackageStores stores = PackageStores.of(List.of(store), store.name());
        AtomicInteger packages = new AtomicInteger();
        snapshotter = new Snapshotter(manager, new OneImage(), stores, staging, Clock.systemUTC(),
                () -> "pkg-" + packages.incrementAndGet());
        restorer = new Restorer(manager, new OneImage(), stores, staging, Clock.systemUTC(), new SecureRandom());
    }

    @AfterEach
    void stop() {
        manager.close();
        agents.close();
    }

    private SandboxRecord ociSandbox() throws InterruptedException {
        SandboxRecord r = manager.create(new SandboxConfig("", 0, 0, 0, Map.of(), Map.of(), 0, 0, null)
                .withOciImage(REFERENCE));
        agents.workspaces.put(r.id(), new byte[0]);
        return r;
    }

    @Test
    void aVmPackagePinsTheRootItBootedAndResumesOnlyOnThatRoot() throws Exception {
        SandboxRecord source = ociSandbox();
        assertEquals(ROOT, source.oci().rootSha256(), "the record keeps the root's hash");
        snapshotter.snapshot(source.id(), PackageKind.VM, "", Map.of(), true);
        assertEquals(ROOT, new PackageReader().readManifest(store, "pkg-1").manifest().sourceSandbox().ociImage()
                .rootSha256());

        oci.cached.clear(); // as on another daemon, or after Images.Remove: the restore pulls the image
        SandboxRecord restored = restorer.restore("pkg-1", "", "", RestoreOverrides.NONE).sandbox();
        assertEquals(SandboxState.READY, restored.state());
        assertEquals("sha256:" + SHA, restored.oci().manifestDigest());
        assertEquals(1, hypervisor.restoredFrom.size(), "resumed from the saved VM");
        manager.delete(restored.id());

        oci.cached.clear();
        oci.rootSha256 = "b".repeat(64);
        int booted = hypervisor.booted.size();
        var refused = assertThrows(RestoreRejectedException.class, () -> restorer.restore("pkg-1", "", "",
                RestoreOverrides.NONE));
        assertTrue(refused.getMessage().contains(ROOT) && refused.getMessage().contains("b".repeat(64))
                && refused.getMessage().contains("checkpoint"), refused.getMessage());
        assertEquals(booted, hypervisor.booted.size(), "refused before any VM");
        assertEquals(List.of("sha256:" + SHA), oci.discarded, "the image it pulled for itself is removed again");
        assertEquals(Set.of(), oci.cached);
    }

    @Test
    void aRestoreThatFailsAfterItsGatesRemovesTheImageItPulledButNotOneThatWasCached() throws Exception {
        SandboxRecord source = ociSandbox();
        snapshotter.snapshot(source.id(), PackageKind.CHECKPOINT, "", Map.of(), true);

        oci.cached.clear();
        agents.refuseImport.add("sb2");
        assertThrows(StatusRuntimeException.class, () -> restorer.restore("pkg-1", "", "", RestoreOverrides.NONE));
        assertEquals(List.of("sha256:" + SHA), oci.discarded, "pulled for the failed restore: removed");
        assertTrue(manager.list(Map.of()).isEmpty());

        oci.cached.add(SHA);
        agents.refuseImport.add("sb3");
        assertThrows(StatusRuntimeException.class, () -> restorer.restore("pkg-1", "", "", RestoreOverrides.NONE));
        assertEquals(List.of("sha256:" + SHA), oci.discarded, "cached before the restore: kept");
        assertEquals(Set.of(SHA), oci.cached);
    }
}
