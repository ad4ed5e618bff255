package dev.kelpie.daemon.sandboxes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
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
import dev.kelpie.daemon.images.oci.RootTooLargeException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Create with an OCI image through the manager's seams: the VM boots the root the OCI source built on the base image's
 * kernel, the record keeps the digest and the exec defaults (across a daemon restart), a refused image leaves no record.
 */
class OciSandboxCreateTest {

    private static final SandboxLimits LIMITS = new SandboxLimits(3, 1024, 4, 512, 4096);
    private static final SandboxSettings SETTINGS = new SandboxSettings(GuestArchs.of("x86_64"), 1, 256, Duration.ofSeconds(5),
            Duration.ofSeconds(1), 2, 64, 1024, Duration.ZERO);
    private static final String SHA = "c".repeat(64);
    private static final OciImage IMAGE = new OciImage(SHA, 100, "registry:5000/team/tool", List.of("registry:5000/team/tool:1"),
            new OciImageConfig(OciPlatform.forArch("x86_64"), List.of("PATH=/bin", "A=image", "A=later", "B=x=y"),
                    "/srv", "app", List.of("/bin/sh", "-c"), List.of("echo hi")),
            new OciDescriptor("application/vnd.oci.image.config.v1+json", "d".repeat(64), 10), List.of(), 0);

    @TempDir
    Path state;
    private final FakeHypervisor hypervisor = new FakeHypervisor();
    private final InProcessAgents agents = new InProcessAgents();
    private final ObjectMapper json = new ObjectMapper().registerModule(new Jdk8Module());
    private final AtomicInteger nextId = new AtomicInteger();
    private final MutableClock clock = new MutableClock();
    private final List<SandboxManager> managers = new java.util.ArrayList<>();

    @AfterEach
    void stop() {
        managers.forEach(SandboxManager::close);
        agents.close();
    }

    private SandboxManager manager(OciBootSource oci) {
        SandboxManager m = new SandboxManager(hypervisor, new OneImage(), agents, new DirectorySandboxStore(state, json),
                clock, LIMITS, SETTINGS, () -> "sb" + nextId.incrementAndGet(), Runnable::run,
                SandboxNetworks.NO_EGRESS, VmCpuTime.NONE, oci);
        managers.add(m);
        return m;
    }

    private static OciBoot boot(String reference, BootImage base) {
        return new OciBoot(new BootImage(base.version(), base.arch(), base.directory(), base.kernel(),
                "console=ttyS0 init=/.kelpie/kelpie-agent", Path.of("/cache/oci/" + SHA + ".ext4"), base.diskTemplate(),
                base.diskTemplateSizeMib(), base.agentVersion(), base.agentProtocolVersion(), base.kernelSha256(), ""),
                IMAGE, reference);
    }

    private static SandboxConfig oci(String reference) {
        return new SandboxConfig("", 0, 0, 0, Map.of("A", "spec"), Map.of(), 0, 0, null).withOciImage(reference);
    }

    @Test
    void theVmBootsTheOciRootOnTheBaseKernelAndTheRecordKeepsDigestAndDefaults() throws Exception {
        SandboxManager m = manager(OciSandboxCreateTest::boot);

        SandboxRecord r = m.create(oci("registry:5000/team/tool:1"));

        BootImage booted = hypervisor.specs.get(0).image();
        assertEquals(Path.of("/cache/oci/" + SHA + ".ext4"), booted.rootfs());
        assertEquals(OneImage.IMAGE.kernel(), booted.kernel());
        assertEquals(OneImage.IMAGE.diskTemplate(), booted.diskTemplate());
        assertEquals("sha256:" + SHA, r.oci().manifestDigest());
        assertEquals("registry:5000/team/tool:1", r.oci().reference());
        assertEquals(OneImage.IMAGE.version(), r.imageVersion(), "the base image whose kernel it boots");
        ExecDefaults d = m.execDefaults(r.id());
        assertEquals(Map.of("PATH", "/bin", "A", "spec", "B", "x=y"), d.env(), "spec.env over the image's last A");
        assertEquals("/srv", d.cwd());
        assertEquals("app", d.user());
        assertEquals(List.of("/bin/sh", "-c", "echo hi"), d.command());

        SandboxRecord saved = new DirectorySandboxStore(state, json).loadAll().stream()
                .filter(s -> s.id().equals(r.id())).findFirst().orElseThrow();
        assertEquals(r.oci(), saved.oci(), "the saved record keeps it, for a daemon restart");
        assertEquals(d, saved.execDefaults());
    }

    @Test
    void aSandboxOnOurOwnRootHasNoOciImage() throws Exception {
        SandboxRecord r = manager(OciBootSource.NONE).create(new SandboxConfig("", 0, 0, 0, Map.of(), Map.of(), 0, 0,
                null));
        assertNull(r.oci());
        assertEquals(OneImage.IMAGE.rootfs(), hypervisor.specs.get(0).image().rootfs());
    }

    @Test
    void anImageTheSourceRefusesLeavesNoRecordAndBootsNothing() {
        SandboxManager m = manager((reference, base) -> {
            throw new RootTooLargeException("the root of " + reference + " is over the limit");
        });
        var e = assertThrows(RootTooLargeException.class, () -> m.create(oci("registry:5000/team/big:1")));
        assertTrue(e.getMessage().contains("registry:5000/team/big:1"), e.getMessage());
        assertEquals(List.of(), hypervisor.specs, "nothing booted");
        assertEquals(List.of(), m.list(Map.of()));
        assertEquals(List.of(), new DirectorySandboxStore(state, json).loadAll(), "no record saved");
    }

    @Test
    void aCreateThatFailsAtBootTakesBackTheImageItPulledButNotOneItFoundCached() throws Exception {
        List<String> discarded = new java.util.concurrent.CopyOnWriteArrayList<>();
        SandboxManager m = manager(new OciBootSource() {
            @Override
            public OciBoot prepare(String reference, BootImage base) {
                OciBoot b = boot(reference, base);
                return new OciBoot(b.image(), b.oci(), reference, "", reference.endsWith(":pulled"), null);
            }

            @Override
            public void discard(OciBoot boot, java.util.function.Supplier<List<String>> users) {
                discarded.add(boot.reference() + " users=" + users.get());
            }
        });
        hypervisor.failNextBoot = "qemu exited at boot";
        assertThrows(RuntimeException.class, () -> m.create(oci("registry:5000/team/tool:pulled")));
        hypervisor.failNextBoot = "qemu exited at boot";
        assertThrows(RuntimeException.class, () -> m.create(oci("registry:5000/team/tool:cached")));

        assertEquals(List.of("registry:5000/team/tool:pulled users=[]"), discarded);
        assertEquals(List.of(), m.list(Map.of()), "no record of either");
    }

    @Test
    void anOciSandboxSuspendedWhileIdleResumesOnItsOwnRootNotTheBaseImages() throws Exception {
        List<String> prepared = new java.util.concurrent.CopyOnWriteArrayList<>();
        SandboxManager m = manager((reference, base) -> {
            prepared.add(reference);
            return boot(reference, base);
        });
        SandboxConfig idle = new SandboxConfig("", 0, 0, 0, Map.of(), Map.of(), 0, 1000, null, IdleAction.SNAPSHOT, "")
                .withOciImage("registry:5000/team/tool:1");
        SandboxRecord r = m.create(idle);
        clock.advance(Duration.ofSeconds(2));
        m.reapExpired();
        assertEquals(SandboxState.SUSPENDED, m.get(r.id()).state());

        m.agent(r.id());

        assertEquals(SandboxState.READY, m.get(r.id()).state());
        assertEquals(1, hypervisor.restoredFrom.size(), "resumed from its saved state");
        assertEquals(Path.of("/cache/oci/" + SHA + ".ext4"), hypervisor.specs.getLast().image().rootfs(),
                "the resumed VM has the OCI image's root");
        assertEquals(List.of("registry:5000/team/tool:1", "sha256:" + SHA), prepared,
                "the resume asks for the image by the digest the sandbox booted, not by its tag");
        assertEquals("/srv", m.execDefaults(r.id()).cwd(), "its exec defaults are the image's still");
    }

    @Test
    void aWarmPoolOfAnOciImageServesCreatesOfItsDigestOnly() throws Exception {
        SandboxManager m = manager((reference, base) -> reference.endsWith(":moved")
                ? new OciBoot(base, new OciImage("e".repeat(64), 1, IMAGE.repository(), List.of(reference), IMAGE.config(),
                        IMAGE.configBlob(), List.of(), 0), reference)
                : boot(reference, base));
        m.startWarmPool(1, "", "registry:5000/team/tool:1");
        assertEquals(1, hypervisor.specs.size(), "the pool booted one VM");
        assertEquals(Path.of("/cache/oci/" + SHA + ".ext4"), hypervisor.specs.get(0).image().rootfs(), "of the OCI root");

        SandboxRecord pooled = m.create(oci("registry:5000/team/tool:1"));
        assertTrue(pooled.fromPool(), "same digest and shape: from the pool");
        assertEquals("sha256:" + SHA, pooled.oci().manifestDigest());
        assertEquals("/srv", m.execDefaults(pooled.id()).cwd());

        SandboxRecord own = m.create(oci("registry:5000/team/tool:moved"));
        assertFalse(own.fromPool(), "another digest boots its own VM");
        assertEquals("sha256:" + "e".repeat(64), own.oci().manifestDigest());
        SandboxRecord plain = m.create(new SandboxConfig("", 0, 0, 0, Map.of(), Map.of(), 0, 0, null));
        assertFalse(plain.fromPool(), "our own root is not what the pool holds");
        assertNull(plain.oci());
    }
}
