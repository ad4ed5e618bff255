package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kelpie.api.v1.Command;
import dev.kelpie.api.v1.GetSandboxRequest;
import dev.kelpie.api.v1.IdleAction;
import dev.kelpie.api.v1.ImagesGrpc;
import dev.kelpie.api.v1.InspectImageRequest;
import dev.kelpie.api.v1.PruneImagesRequest;
import dev.kelpie.api.v1.PruneImagesResponse;
import dev.kelpie.api.v1.PullImageRequest;
import dev.kelpie.api.v1.RemoveImageRequest;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxState;
import dev.kelpie.api.v1.SnapshotKind;
import dev.kelpie.api.v1.RestoreRequest;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.ForkSandboxRequest;
import dev.kelpie.api.v1.SnapshotRequest;
import dev.kelpie.daemon.images.oci.TestImagePusher;
import dev.kelpie.daemon.images.oci.TestImagePusher.Layer;
import dev.kelpie.daemon.images.oci.TestRegistry;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sandboxes from OCI images (ADR 0030) on the packaged daemon, real QEMU (TCG) and Debian's docker-registry on
 * loopback: an image made here from Debian's busybox-static (no Docker) boots with our agent as PID 1, and its Env,
 * WorkingDir, User and Entrypoint + Cmd are the defaults of every exec; a corrupt layer, another platform and a root
 * over the limit are refused by Create with nothing left. One daemon, one registry, one VM.
 */
class OciSandboxIT {

    private static final Path BUSYBOX = Path.of("/bin/busybox");
    /** Well above the busybox image's root, well below the large image's. */
    private static final long MAX_ROOT_BYTES = 24L << 20;
    private static final String REPO = "kelpie/busybox";
    /** Long enough for the exec that writes the test's file to end well before the sandbox counts as idle. */
    private static final long IDLE_TIMEOUT_MS = 3_000;

    @TempDir
    static Path work;
    static TestRegistry registry;
    static TestImagePusher pusher;
    static DaemonProcess daemon;
    static SandboxClient client;

    @BeforeAll
    static void start() throws Exception {
        String imageDir = System.getProperty("kelpie.it.imageDir", "");
        Assumptions.assumeFalse(imageDir.isBlank(), "no image given (-Dkelpie.imageDir=...; scripts/dev passes it)");
        Assumptions.assumeTrue(Files.isExecutable(TestRegistry.BINARY), "needs Debian's docker-registry");
        Assumptions.assumeTrue(Files.isExecutable(BUSYBOX), "needs Debian's busybox-static");
        registry = TestRegistry.start(Files.createDirectories(work.resolve("registry")), "");
        pusher = new TestImagePusher(registry.host(), null);
        String[] args = Stream.concat(Stream.of(SandboxesIT.daemonArgs(imageDir)), Stream.of(
                "-Dkelpie.images.oci.insecure-registries=" + registry.host(),
                "-Dkelpie.images.oci.max-root-bytes=" + MAX_ROOT_BYTES,
                "-Dkelpie.sandboxes.reap-interval=1s")).toArray(String[]::new);
        daemon = DaemonProcess.startServing(work, "oci", args);
        client = new SandboxClient(daemon.socket);
    }

    @AfterAll
    static void stop() throws Exception {
        if (client != null) {
            client.deleteAll();
            client.close();
        }
        if (daemon != null) {
            daemon.close();
            Leftovers.killQemusNaming(work);
        }
        if (registry != null) {
            registry.close();
        }
    }

    @Test
    void aSandboxFromABusyboxImageRunsWithTheImagesFilesEnvDirectoryUserAndCommand() throws Exception {
        ObjectNode config = new ObjectMapper().createObjectNode();
        config.putArray("Env").add("PATH=/bin").add("GREETING=hello from the image");
        config.put("WorkingDir", "/srv/app").put("User", "app");
        config.putArray("Entrypoint").add("/bin/sh").add("-c");
        config.putArray("Cmd").add("echo cmd ran as $(id -u) in $(pwd): $GREETING");
        byte[] manifest = pusher.pushImage(REPO, "1.0", "amd64", config, List.of(busyboxLayer()));
        String digest = "sha256:" + TestImagePusher.sha256(manifest);

        Sandbox sandbox = client.create(SandboxSpec.newBuilder().setOciImage(registry.host() + "/" + REPO + ":1.0")
                .putEnv("FROM_SPEC", "spec").build());
        assertEquals(SandboxState.SANDBOX_STATE_READY, sandbox.getState(), sandbox.toString());
        Sandbox got = client.sandboxes().get(GetSandboxRequest.newBuilder().setId(sandbox.getId()).build()).getSandbox();
        assertEquals(digest, got.getOciManifestDigest());
        assertEquals(registry.host() + "/" + REPO, got.getOciRepository());
        assertEquals(registry.host() + "/" + REPO + ":1.0", got.getSpec().getOciImage());

        // Every exec: the image's files, Env (under the spec's), WorkingDir and User.
        assertEquals("only in the image|hello from the image|spec|/srv/app|1234|1\n", client.sh(sandbox.getId(),
                "echo \"$(cat /etc/greeting)|$GREETING|$FROM_SPEC|$(pwd)|$(id -u)|$(cat /proc/1/comm | grep -c kelpie)\""));
        // The exec's own values win.
        var own = client.start(sandbox.getId(), SandboxesIT.sh("echo $(id -u) $(pwd) $GREETING").toBuilder()
                .setUser("0").setCwd("/").putEnv("GREETING", "own").build()).await(Await.scaled(SandboxClient.CALL_TIMEOUT));
        assertEquals("0 / own\n", SandboxesIT.stdout(own.messages()));
        // An empty command runs Entrypoint + Cmd.
        var defaultCommand = client.start(sandbox.getId(), Command.getDefaultInstance())
                .await(Await.scaled(SandboxClient.CALL_TIMEOUT));
        assertEquals(Status.Code.OK, defaultCommand.status().getCode(), defaultCommand.status().toString());
        assertEquals("cmd ran as 1234 in /srv/app: hello from the image\n", SandboxesIT.stdout(defaultCommand.messages()));
        // The image stays while the sandbox uses it.
        var inUse = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class, () -> ImagesGrpc
                .newBlockingStub(client.channel).remove(RemoveImageRequest.newBuilder().setOciImage(digest).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, inUse.getStatus().getCode(), inUse.getStatus().toString());
        assertTrue(inUse.getStatus().getDescription().contains(sandbox.getId()), inUse.getStatus().toString());

        // Prune with oci_unused removes a cached image no sandbox uses and keeps this one.
        pusher.pushImage("kelpie/unused", "1", "amd64", List.of(), "/", List.of(busyboxLayer()));
        ImagesGrpc.newBlockingStub(client.channel).pull(PullImageRequest.newBuilder()
                .setOciImage(registry.host() + "/kelpie/unused:1").build()).forEachRemaining(r -> {});
        PruneImagesResponse pruned = ImagesGrpc.newBlockingStub(client.channel).prune(PruneImagesRequest.newBuilder()
                .setOciUnused(true).build());
        assertEquals(1, pruned.getRemovedList().stream().filter(r -> r.startsWith(registry.host() + "/kelpie/unused@"))
                .count(), pruned.toString());
        assertFalse(pruned.getRemovedList().stream().anyMatch(r -> r.contains(digest)), pruned.toString());
        assertEquals(digest, ImagesGrpc.newBlockingStub(client.channel).inspect(InspectImageRequest.newBuilder()
                .setOciImage(digest).build()).getImage().getOci().getManifestDigest());

        // A checkpoint restores onto the same digest, with the image's exec defaults and the workspace.
        // As root: /workspace belongs to the base image's user, not to the image's.
        var note = client.start(sandbox.getId(), SandboxesIT.sh("echo kept > /workspace/note").toBuilder().setUser("0")
                .build()).await(Await.scaled(SandboxClient.CALL_TIMEOUT));
        assertEquals(0, SandboxesIT.exitOf(note.messages()).getExitCode(), note.messages().toString());
        var checkpoint = client.sandboxes().snapshot(SnapshotRequest.newBuilder().setSandboxId(sandbox.getId())
                .setKind(SnapshotKind.SNAPSHOT_KIND_CHECKPOINT).build()).getPackage();
        Sandbox restored = client.sandboxes().restore(RestoreRequest.newBuilder().setPackageId(checkpoint.getId())
                .build()).getSandbox();
        assertEquals(digest, restored.getOciManifestDigest());
        assertEquals("kept|/srv/app|1234\n", client.sh(restored.getId(), "echo \"$(cat /workspace/note)|$(pwd)|$(id -u)\""));
        // Onto another digest of the repository: refused unless asked for, then with a warning naming both.
        byte[] other = pusher.pushImage(REPO, "2.0", "amd64", List.of("PATH=/bin"), "/", List.of(busyboxLayer()));
        String otherDigest = "sha256:" + TestImagePusher.sha256(other);
        RestoreRequest onto2 = RestoreRequest.newBuilder().setPackageId(checkpoint.getId())
                .setSpecOverrides(SandboxSpec.newBuilder().setOciImage(registry.host() + "/" + REPO + ":2.0")).build();
        var refused = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                () -> client.sandboxes().restore(onto2));
        assertEquals(Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode(), refused.getStatus().toString());
        assertTrue(refused.getStatus().getDescription().contains("accept_other_oci_digest"), refused.getStatus().toString());
        var accepted = client.sandboxes().restore(onto2.toBuilder().setAcceptOtherOciDigest(true).build());
        assertEquals(otherDigest, accepted.getSandbox().getOciManifestDigest());
        assertTrue(accepted.getWarningsList().stream().anyMatch(w -> w.contains(otherDigest) && w.contains(digest)),
                accepted.getWarningsList().toString());
        client.sandboxes().delete(DeleteSandboxRequest.newBuilder().setId(accepted.getSandbox().getId()).build());
        client.sandboxes().delete(DeleteSandboxRequest.newBuilder().setId(restored.getId()).build());

        // A fork's copy resumes the sandbox's memory on the same root: the image's files and defaults.
        Sandbox copy = client.sandboxes().fork(ForkSandboxRequest.newBuilder().setId(sandbox.getId()).setCount(1).build())
                .getSandboxes(0);
        assertEquals(digest, copy.getOciManifestDigest());
        assertEquals("only in the image|/srv/app|1234\n", client.sh(copy.getId(),
                "echo \"$(cat /etc/greeting)|$(pwd)|$(id -u)\""));
        client.sandboxes().delete(DeleteSandboxRequest.newBuilder().setId(copy.getId()).build());

        // The overlay works as on our images: the read-only root has a writable upper layer.
        var written = client.start(sandbox.getId(), SandboxesIT.sh("echo ok > /etc/written && cat /etc/written")
                .toBuilder().setUser("0").build()).await(Await.scaled(SandboxClient.CALL_TIMEOUT));
        assertEquals("ok\n", SandboxesIT.stdout(written.messages()), written.messages().toString());
    }

    /**
     * A vm package of an OCI sandbox pins the root it booted by sha256. Its image removed from the cache (root and
     * layers), the restore pulls it by digest and rebuilds the root, which is the same bytes, so the VM resumes with
     * its running process and its memory-only files; a restore onto another digest's root is refused naming both
     * hashes, and the image it pulled for itself is gone again.
     */
    @Test
    void aVmPackageResumesOnARebuiltIdenticalRootAndIsRefusedOnAnother() throws Exception {
        String reference = registry.host() + "/" + REPO + ":vm";
        byte[] manifest = pusher.pushImage(REPO, "vm", "amd64", List.of("PATH=/bin", "VM=1"), "/", List.of(busyboxLayer()));
        String digest = "sha256:" + TestImagePusher.sha256(manifest);
        Sandbox source = client.create(SandboxSpec.newBuilder().setOciImage(reference).build());
        var counting = client.start(source.getId(), SandboxesIT.sh(
                "i=0; while true; do echo $i > /tmp/counter; i=$((i+1)); sleep 0.2; done").toBuilder()
                .setUser("0").setDetached(true).build());
        Await.until("the background process started", java.time.Duration.ofSeconds(60),
                () -> counting.messages().stream().anyMatch(m -> m.getEvent().hasStarted()));
        client.sh(source.getId(), "echo only-in-memory > /tmp/mem");
        String rootSha256 = Files.readString(daemon.stateDir.resolve("images/oci/" + digest.substring(7)
                + ".ext4.sha256")).strip();
        var pkg = client.sandboxes().snapshot(SnapshotRequest.newBuilder().setSandboxId(source.getId())
                .setKind(SnapshotKind.SNAPSHOT_KIND_VM).setStopAfter(true).build()).getPackage();
        assertEquals(SnapshotKind.SNAPSHOT_KIND_VM, pkg.getKind());
        ImagesGrpc.newBlockingStub(client.channel).remove(RemoveImageRequest.newBuilder().setOciImage(digest).build());
        assertFalse(Files.exists(daemon.stateDir.resolve("images/oci/" + digest.substring(7) + ".ext4")));

        Sandbox copy = client.sandboxes().restore(RestoreRequest.newBuilder().setPackageId(pkg.getId()).build())
                .getSandbox();
        assertEquals(digest, copy.getOciManifestDigest());
        assertEquals(rootSha256, Files.readString(daemon.stateDir.resolve("images/oci/" + digest.substring(7)
                + ".ext4.sha256")).strip(), "the rebuilt root is the same bytes");
        assertEquals("only-in-memory\n", client.sh(copy.getId(), "cat /tmp/mem"));
        int before = Integer.parseInt(client.sh(copy.getId(), "cat /tmp/counter").strip());
        Await.until("the process to count on in the restored VM", java.time.Duration.ofSeconds(60), () -> {
            try {
                return Integer.parseInt(client.sh(copy.getId(), "cat /tmp/counter").strip()) > before;
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
        client.sandboxes().delete(DeleteSandboxRequest.newBuilder().setId(copy.getId()).build());

        // Another digest of the repository has another root: refused even with accept_other_oci_digest, and the
        // image that restore pulled for itself is not left in the cache.
        pusher.pushImage(REPO, "vm-other", "amd64", List.of("PATH=/bin", "VM=2"), "/", List.of(busyboxLayer()));
        List<Path> cacheBefore = cacheFiles();
        var refused = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class, () -> client
                .sandboxes().restore(RestoreRequest.newBuilder().setPackageId(pkg.getId()).setAcceptOtherOciDigest(true)
                        .setSpecOverrides(SandboxSpec.newBuilder().setOciImage(registry.host() + "/" + REPO + ":vm-other"))
                        .build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode(), refused.getStatus().toString());
        String message = refused.getStatus().getDescription();
        assertTrue(message.contains(rootSha256) && message.contains("checkpoint"), message);
        assertEquals(cacheBefore, cacheFiles(), "the image cache after a refused restore");
        assertFalse(client.list().stream().anyMatch(s -> s.getId().equals(copy.getId())));
    }

    /**
     * idle_action snapshot on an OCI sandbox: suspended once idle (its VM process gone), then the next exec resumes it
     * on its own root, by digest, with its memory: a file only in its tmpfs, the image's file and exec defaults.
     */
    @Test
    void anIdleOciSandboxIsSuspendedAndTheNextExecResumesItOnItsOwnRoot() throws Exception {
        pusher.pushImage(REPO, "idle", "amd64", List.of("PATH=/bin"), "/srv/app", List.of(busyboxLayer()));
        Sandbox idle = client.create(SandboxSpec.newBuilder().setOciImage(registry.host() + "/" + REPO + ":idle")
                .setIdleAction(IdleAction.IDLE_ACTION_SNAPSHOT).setIdleTimeoutMs(IDLE_TIMEOUT_MS).build());
        client.sh(idle.getId(), "echo only-in-memory > /tmp/mem");
        Path runtimeDir = daemon.stateDir.resolve("vms").resolve(idle.getId());

        Await.until("the idle OCI sandbox to be suspended", Await.scaled(java.time.Duration.ofSeconds(120)),
                () -> client.sandboxes().get(GetSandboxRequest.newBuilder().setId(idle.getId()).build()).getSandbox()
                        .getState() == SandboxState.SANDBOX_STATE_SUSPENDED);
        Await.until("the suspended sandbox's VM process to end", Await.scaled(java.time.Duration.ofSeconds(60)),
                () -> Leftovers.qemusNaming(runtimeDir).isEmpty());

        assertEquals("only-in-memory|only in the image|/srv/app\n", client.sh(idle.getId(),
                "echo \"$(cat /tmp/mem)|$(cat /etc/greeting)|$(pwd)\""));
        assertEquals(SandboxState.SANDBOX_STATE_READY, client.sandboxes().get(GetSandboxRequest.newBuilder()
                .setId(idle.getId()).build()).getSandbox().getState());
        client.sandboxes().delete(DeleteSandboxRequest.newBuilder().setId(idle.getId()).build());
    }

    /**
     * A missing tag (NOT_FOUND) and a registry nothing listens on (UNAVAILABLE; ORAS logs that one at ERROR with a
     * 30-line stack trace): the daemon's log has its own one line for each, and nothing of ORAS's.
     */
    @Test
    void aFailedPullIsLoggedOnceByTheDaemonWithoutOrasStackTraces() throws Exception {
        assertRefused(Status.Code.NOT_FOUND, REPO + ":no-such-tag");
        String unreachable;
        try (java.net.ServerSocket probe = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            unreachable = "127.0.0.1:" + probe.getLocalPort() + "/kelpie/nowhere:1"; // closed again below
        }
        String ref = unreachable;
        var down = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                () -> client.create(SandboxSpec.newBuilder().setOciImage(ref).build()));
        assertEquals(Status.Code.UNAVAILABLE, down.getStatus().getCode(), down.getStatus().toString());
        String log = daemon.logText();
        for (String reference : List.of(registry.host() + "/" + REPO + ":no-such-tag", unreachable)) {
            assertEquals(1, log.lines().filter(l -> l.contains("pull of OCI image " + reference + " failed")).count(),
                    log);
        }
        assertFalse(log.contains("Failed to execute request") || log.contains("OrasException"),
                "ORAS's own ERROR lines with stack traces are off: " + log);
    }

    @Test
    void aLayerWhoseBytesDifferFromItsDigestIsDataLossWithNothingLeft() throws Exception {
        Layer layer = TestImagePusher.gzip(TestImagePusher.tar(tar -> TestImagePusher.file(tar, "etc/corrupt", 0644,
                "bytes the registry will serve changed")));
        pusher.pushImage("kelpie/corrupt", "1", "amd64", List.of("PATH=/bin"), "/", List.of(layer));
        Path data = registry.blobData(TestImagePusher.sha256(layer.bytes()));
        byte[] changed = Files.readAllBytes(data);
        changed[changed.length / 2] ^= 0x55;
        Files.write(data, changed);

        assertRefused(Status.Code.DATA_LOSS, "kelpie/corrupt:1");
    }

    @Test
    void anImageForAnotherPlatformIsFailedPreconditionWithNothingLeft() throws Exception {
        pusher.pushImage("kelpie/arm", "1", "arm64", List.of(), "/", List.of(busyboxLayer()));

        assertRefused(Status.Code.FAILED_PRECONDITION, "kelpie/arm:1");
    }

    @Test
    void aRootOverTheLimitIsResourceExhaustedWithNothingLeft() throws Exception {
        byte[] zeros = new byte[(int) (MAX_ROOT_BYTES + (4L << 20))];
        Layer big = TestImagePusher.gzip(TestImagePusher.tar(tar -> TestImagePusher.file(tar, "big", 0644, zeros)));
        pusher.pushImage("kelpie/big", "1", "amd64", List.of(), "/", List.of(big));

        assertRefused(Status.Code.RESOURCE_EXHAUSTED, "kelpie/big:1");
    }

    /** Create is refused with {@code code}; no sandbox, cached image, root, blob, download or staging tree is added. */
    private static void assertRefused(Status.Code code, String repositoryAndTag) throws Exception {
        List<String> before = sandboxIds();
        List<Path> cacheBefore = cacheFiles();
        try {
            Sandbox s = client.create(SandboxSpec.newBuilder().setOciImage(registry.host() + "/" + repositoryAndTag).build());
            throw new AssertionError("expected " + code + " but Create made " + s);
        } catch (StatusRuntimeException e) {
            assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
            assertFalse(String.valueOf(e.getStatus().getDescription()).isBlank(), "says what was wrong");
        }
        assertEquals(before, sandboxIds());
        assertEquals(cacheBefore, cacheFiles(), "the image cache after a refused Create");
    }

    /** What the image cache holds: OCI entries and roots, blobs, downloads, staging trees. */
    private static List<Path> cacheFiles() throws java.io.IOException {
        List<Path> all = new java.util.ArrayList<>();
        for (String dir : List.of("oci", "blobs/sha256", "downloads", "staging")) {
            Path d = daemon.stateDir.resolve("images").resolve(dir);
            if (Files.isDirectory(d)) {
                try (Stream<Path> files = Files.list(d)) {
                    files.forEach(all::add);
                }
            }
        }
        return all.stream().sorted().toList();
    }

    private static List<String> sandboxIds() {
        return client.list().stream().map(Sandbox::getId).sorted().toList();
    }

    /**
     * Debian's static busybox with the shell and the applets the test uses as links, a user {@code app} (1234),
     * a file only the image has, and the image's working directory.
     */
    private static Layer busyboxLayer() throws Exception {
        byte[] busybox = Files.readAllBytes(BUSYBOX);
        return TestImagePusher.gzip(TestImagePusher.tar(tar -> {
            dir(tar, "bin/");
            TestImagePusher.file(tar, "bin/busybox", 0755, busybox);
            for (String applet : List.of("sh", "cat", "echo", "id", "pwd", "grep", "touch", "env", "ls", "sleep")) {
                TarArchiveEntry link = new TarArchiveEntry("bin/" + applet, TarArchiveEntry.LF_SYMLINK);
                link.setLinkName("busybox");
                tar.putArchiveEntry(link);
                tar.closeArchiveEntry();
            }
            dir(tar, "etc/");
            TestImagePusher.file(tar, "etc/passwd", 0644, "root:x:0:0:root:/root:/bin/sh\napp:x:1234:1234::/srv/app:/bin/sh\n");
            TestImagePusher.file(tar, "etc/group", 0644, "root:x:0:\napp:x:1234:\n");
            TestImagePusher.file(tar, "etc/greeting", 0644, "only in the image");
            dir(tar, "srv/");
            dir(tar, "srv/app/");
        }));
    }

    private static void dir(TarArchiveOutputStream tar, String name) throws java.io.IOException {
        TarArchiveEntry d = new TarArchiveEntry(name);
        d.setMode(040755);
        tar.putArchiveEntry(d);
        tar.closeArchiveEntry();
    }
}
