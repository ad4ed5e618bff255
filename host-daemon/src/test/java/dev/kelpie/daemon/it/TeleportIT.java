package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kelpie.api.v1.AttachResponse;
import dev.kelpie.api.v1.ExecResponse;
import dev.kelpie.api.v1.InspectPackageRequest;
import dev.kelpie.api.v1.ListPackagesRequest;
import dev.kelpie.api.v1.PackageSummary;
import dev.kelpie.api.v1.RestoreRequest;
import dev.kelpie.api.v1.RestoreResponse;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxState;
import dev.kelpie.api.v1.SnapshotKind;
import dev.kelpie.api.v1.SnapshotRequest;
import dev.kelpie.daemon.agent.StreamCollector;
import dev.kelpie.teleport.testing.S3ProxyServer;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * Snapshot and Restore between two packaged daemons on one machine (separate state directories and sockets) with real
 * QEMU (TCG) VMs, a local store each and a shared S3 store on s3proxy. Two VMs at most run at once.
 */
class TeleportIT {

    private static final String BUCKET = "kelpie-teleport";
    private static final String PATCH_VERSION = "0.0.1-test";
    private static final String MINOR_VERSION = "0.1.0-test";
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path work;
    static S3ProxyServer s3;
    static DaemonProcess a;
    static DaemonProcess b;
    static SandboxClient onA;
    static SandboxClient onB;
    static String imageVersion;

    @BeforeAll
    static void start() throws Exception {
        String imageDir = System.getProperty("kelpie.it.imageDir", "");
        Assumptions.assumeFalse(imageDir.isBlank(), "no image given (-Dkelpie.imageDir=...; scripts/dev passes it)");
        imageVersion = JSON.readTree(Path.of(imageDir, "metadata.json").toFile()).path("version").asText();
        Path otherVersions = work.resolve("other-images");
        relabelledImage(Path.of(imageDir), otherVersions, PATCH_VERSION);
        relabelledImage(Path.of(imageDir), otherVersions, MINOR_VERSION);
        s3 = S3ProxyServer.start(work.resolve("s3"));
        try (S3Client client = s3.client()) {
            client.createBucket(r -> r.bucket(BUCKET));
        }
        String[] args = {"-Dkelpie.images.dirs=" + imageDir + "," + otherVersions, "-Dkelpie.qemu.accelerator=tcg",
                "-Dkelpie.probe.boot-timeout=2s", "-Dkelpie.sandboxes.default-memory-mib=256",
                "-Dkelpie.teleport.stores.shared.type=s3", "-Dkelpie.teleport.stores.shared.bucket=" + BUCKET,
                "-Dkelpie.teleport.stores.shared.endpoint=" + s3.endpoint(),
                "-Dkelpie.teleport.stores.shared.region=" + s3.region(),
                "-Dkelpie.teleport.stores.shared.path-style=true",
                "-Dkelpie.teleport.stores.shared.access-key-id=" + s3.accessKeyId(),
                "-Dkelpie.teleport.stores.shared.secret-access-key=" + s3.secretAccessKey()};
        // Both daemons see one directory as store "sealed", each with its own key.
        a = DaemonProcess.startServing(work, "a", withSealedStore(args, "a"));
        b = DaemonProcess.startServing(work, "b", withSealedStore(args, "b"));
        onA = new SandboxClient(a.socket);
        onB = new SandboxClient(b.socket);
    }

    private static String[] withSealedStore(String[] args, String daemon) throws IOException {
        byte[] key = new byte[32];
        new java.security.SecureRandom().nextBytes(key);
        Path keyFile = Files.writeString(work.resolve(daemon + "-seal.key"),
                java.util.Base64.getEncoder().encodeToString(key));
        List<String> all = new java.util.ArrayList<>(List.of(args));
        all.addAll(List.of("-Dkelpie.teleport.stores.sealed.type=local",
                "-Dkelpie.teleport.stores.sealed.path=" + work.resolve("sealed-store"),
                "-Dkelpie.teleport.stores.sealed.seal-key-file=" + keyFile));
        return all.toArray(String[]::new);
    }

    /** The test image under another version: its files linked, its metadata.json rewritten. */
    private static void relabelledImage(Path image, Path root, String version) throws IOException {
        Path dir = Files.createDirectories(root.resolve(version).resolve("x86_64"));
        try (Stream<Path> files = Files.list(image)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                if (!f.getFileName().toString().equals("metadata.json")) {
                    Files.createSymbolicLink(dir.resolve(f.getFileName()), f.toAbsolutePath());
                }
            }
        }
        ObjectNode meta = (ObjectNode) JSON.readTree(image.resolve("metadata.json").toFile());
        meta.put("version", version);
        JSON.writeValue(dir.resolve("metadata.json").toFile(), meta);
    }

    @AfterEach
    void deleteSandboxes() {
        if (onA != null) {
            onA.deleteAll();
            onB.deleteAll();
        }
    }

    @AfterAll
    static void stop() throws Exception {
        for (AutoCloseable c : new AutoCloseable[] {onA, onB, a, b, s3}) {
            if (c != null) {
                c.close();
            }
        }
        if (a != null) {
            List<ProcessHandle> left = ProcessHandle.allProcesses().filter(p -> p.info().commandLine()
                    .map(c -> c.contains(work.toString()) && c.contains("qemu-system")).orElse(false)).toList();
            assertEquals(List.of(), left, "no qemu outlives the test");
        }
    }

    /** The test image itself: the relabelled copies are newer and would be chosen by default. */
    private static SandboxSpec.Builder spec() {
        return SandboxSpec.newBuilder().setImageVersion(imageVersion);
    }

    private static PackageSummary snapshot(SandboxClient on, String sandboxId, SnapshotKind kind, String store) {
        return on.sandboxes().snapshot(SnapshotRequest.newBuilder().setSandboxId(sandboxId).setKind(kind)
                .setStore(store).build()).getPackage();
    }

    private static RestoreResponse restore(SandboxClient on, String packageId, String store, String version) {
        return on.sandboxes().restore(RestoreRequest.newBuilder().setPackageId(packageId).setStore(store)
                .setImageVersion(version).build());
    }

    /** Nothing of a refused or failed restore is left: no sandbox, no VM directory, no staging file. */
    private static void assertNothingLeft(DaemonProcess daemon, SandboxClient on, int sandboxesBefore) throws IOException {
        assertEquals(sandboxesBefore, on.list().size(), "no sandbox added");
        Path vms = daemon.stateDir.resolve("vms");
        try (Stream<Path> dirs = Files.list(vms)) {
            assertEquals(sandboxesBefore, dirs.count(), "no VM directory added");
        }
        Path staging = daemon.stateDir.resolve("teleport-staging");
        if (Files.exists(staging)) {
            try (Stream<Path> left = Files.list(staging)) {
                assertEquals(List.of(), left.toList(), "no staging left");
            }
        }
    }

    @Test
    void checkpointRoundTripKeepsWorkspaceAndEnvOnAFreshVmAndMovesThroughTheSharedStore() throws Exception {
        Sandbox source = onA.create(spec().putEnv("GREETING", "hello from A").putLabels("app", "t").build());
        onA.sh(source.getId(), "mkdir -p /workspace/src && echo 'print(42)' > /workspace/src/main.py"
                + " && head -c 300000 /dev/urandom > /workspace/blob && sha256sum /workspace/blob > /workspace/blob.sum"
                + " && ln -s src/main.py /workspace/link");

        PackageSummary pkg = snapshot(onA, source.getId(), SnapshotKind.SNAPSHOT_KIND_CHECKPOINT, "shared");
        assertEquals(SnapshotKind.SNAPSHOT_KIND_CHECKPOINT, pkg.getKind());
        assertEquals(imageVersion, pkg.getImageVersion());
        assertEquals("shared", pkg.getStore());
        assertEquals(SandboxState.SANDBOX_STATE_READY, onA.list().get(0).getState(), "the source runs on");

        RestoreResponse restored = restore(onB, pkg.getId(), "shared", "");
        Sandbox copy = restored.getSandbox();
        assertEquals(SandboxState.SANDBOX_STATE_READY, copy.getState());
        assertEquals(List.of(), restored.getWarningsList());
        assertEquals(pkg.getId(), copy.getRestoredFromPackageId());
        assertEquals(pkg.getId(), onB.get(copy.getId()).getRestoredFromPackageId(), "Get says it too");
        assertEquals("", onA.get(source.getId()).getRestoredFromPackageId(), "a created sandbox names no package");
        assertEquals("t", copy.getSpec().getLabelsMap().get("app"));
        assertEquals("print(42)\n", onB.sh(copy.getId(), "cat /workspace/src/main.py"));
        assertTrue(onB.sh(copy.getId(), "cd / && sha256sum -c /workspace/blob.sum").contains("OK"));
        assertEquals("src/main.py\n", onB.sh(copy.getId(), "readlink /workspace/link"));
        assertEquals("hello from A\n", onB.sh(copy.getId(), "echo \"$GREETING\""));
        assertEquals("1\n", onB.sh(copy.getId(), "test -s /run/kelpie/generation && echo 1"), "a new generation");
        assertTrue(packageIds(onB, "shared").contains(pkg.getId()), "both daemons see the shared package");
    }

    @Test
    void vmRoundTripKeepsRunningProcessesFilesAndAnExecStreamingThroughTheSnapshot() throws Exception {
        Sandbox source = onA.create(spec().build());
        onA.sh(source.getId(), "echo kept > /workspace/marker");
        StreamCollector<ExecResponse> background = onA.start(source.getId(), SandboxesIT.sh(
                "i=0; while true; do echo $i > /workspace/counter; i=$((i+1)); sleep 0.2; done").toBuilder()
                .setDetached(true).build());
        Await.until("the background process started", Duration.ofSeconds(60),
                () -> background.messages().stream().anyMatch(m -> m.getEvent().hasStarted()));
        int lines = 60;
        StreamCollector<ExecResponse> streaming = onA.start(source.getId(), SandboxesIT.sh(
                "for i in $(seq 1 " + lines + "); do echo line$i; sleep 0.1; done"));
        Await.until("the streaming exec to print", Duration.ofSeconds(60), () -> SandboxesIT.stdout(
                streaming.messages()).contains("line3"));
        String streamingId = streaming.messages().stream().filter(m -> m.getEvent().hasStarted()).findFirst()
                .orElseThrow().getEvent().getStarted().getProcessId();

        PackageSummary pkg = snapshot(onA, source.getId(), SnapshotKind.SNAPSHOT_KIND_VM, "");
        assertEquals(SnapshotKind.SNAPSHOT_KIND_VM, pkg.getKind());
        assertTrue(pkg.getHypervisor().startsWith("qemu "), pkg.getHypervisor());

        var finished = streaming.await(Await.scaled(SandboxClient.CALL_TIMEOUT));
        assertEquals(Status.Code.OK, finished.status().getCode(), finished.status().toString());
        assertEquals(expectedLines(lines), SandboxesIT.stdout(finished.messages()),
                "the exec streaming during the snapshot finishes with all its output");

        Sandbox copy = restore(onA, pkg.getId(), "", "").getSandbox();
        assertNotEquals(source.getId(), copy.getId());
        assertEquals("kept\n", onA.sh(copy.getId(), "cat /workspace/marker"));
        int before = Integer.parseInt(onA.sh(copy.getId(), "cat /workspace/counter").strip());
        Await.until("the background process to count on in the restored VM", Duration.ofSeconds(60), () -> {
            try {
                return Integer.parseInt(onA.sh(copy.getId(), "cat /workspace/counter").strip()) > before;
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
        StreamCollector.Outcome<AttachResponse> replay = onA.attachToEnd(copy.getId(), streamingId);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        replay.messages().stream().filter(m -> m.getEvent().hasOutput())
                .forEach(m -> out.writeBytes(m.getEvent().getOutput().getData().toByteArray()));
        assertEquals(expectedLines(lines), out.toString(StandardCharsets.UTF_8),
                "in the restored VM the exec streaming at the snapshot finishes too, its output replayed; attach ended "
                        + replay.status() + " after " + replay.messages().get(replay.messages().size() - 1));
        assertTrue(replay.messages().get(replay.messages().size() - 1).getEvent().hasExit());
    }

    private static String expectedLines(int lines) {
        return IntStream.rangeClosed(1, lines).mapToObj(i -> "line" + i + "\n").collect(Collectors.joining());
    }

    @Test
    void gateMatrix() throws Exception {
        Sandbox source = onA.create(spec().build());
        onA.sh(source.getId(), "echo gate > /workspace/f");
        PackageSummary checkpoint = snapshot(onA, source.getId(), SnapshotKind.SNAPSHOT_KIND_CHECKPOINT, "");
        PackageSummary vm = snapshot(onA, source.getId(), SnapshotKind.SNAPSHOT_KIND_VM, "");
        onA.deleteAll();

        RestoreResponse patched = restore(onA, checkpoint.getId(), "", PATCH_VERSION);
        assertEquals(PATCH_VERSION, patched.getSandbox().getImageVersion());
        assertEquals(List.of("image PATCH differs: package " + imageVersion + ", restored on " + PATCH_VERSION),
                patched.getWarningsList());
        assertEquals("gate\n", onA.sh(patched.getSandbox().getId(), "cat /workspace/f"));
        onA.deleteAll();

        assertRefused(Status.Code.FAILED_PRECONDITION, () -> restore(onA, vm.getId(), "", PATCH_VERSION),
                imageVersion, PATCH_VERSION);
        assertRefused(Status.Code.FAILED_PRECONDITION, () -> restore(onA, checkpoint.getId(), "", MINOR_VERSION),
                imageVersion, MINOR_VERSION);
        assertRefused(Status.Code.FAILED_PRECONDITION, () -> restore(onA, vm.getId(), "", MINOR_VERSION),
                imageVersion, MINOR_VERSION);
        assertRefused(Status.Code.INVALID_ARGUMENT, () -> restore(onA, checkpoint.getId(), "", "banana"), "banana");
        assertRefused(Status.Code.NOT_FOUND, () -> restore(onA, "pkg-nonexistent", "", ""), "pkg-nonexistent");

        Path store = a.stateDir.resolve("packages");
        String otherArch = rewrittenCopy(store, vm.getId(), "pkg-other-arch", m -> ((ObjectNode) m.path("base_image"))
                .put("arch", "aarch64"));
        assertRefused(Status.Code.FAILED_PRECONDITION, () -> restore(onA, otherArch, "", ""), "aarch64", "checkpoint");
        String otherQemu = rewrittenCopy(store, vm.getId(), "pkg-other-qemu", m -> ((ObjectNode) m.path("platform"))
                .put("hypervisor_version", "99.0.0"));
        assertRefused(Status.Code.FAILED_PRECONDITION, () -> restore(onA, otherQemu, "", ""), "99.0.0", "checkpoint");
        assertNothingLeft(a, onA, 0);
    }

    private static void assertRefused(Status.Code code, org.junit.jupiter.api.function.Executable call,
            String... mentioned) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call);
        assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
        for (String m : mentioned) {
            assertTrue(e.getStatus().getDescription().contains(m), m + " in: " + e.getStatus().getDescription());
        }
    }

    @Test
    void badPackagesAreRefusedAndLeaveNothingBehind() throws Exception {
        Sandbox source = onA.create(spec().build());
        onA.sh(source.getId(), "head -c 200000 /dev/urandom > /workspace/data");
        PackageSummary good = snapshot(onA, source.getId(), SnapshotKind.SNAPSHOT_KIND_CHECKPOINT, "");
        onA.deleteAll();
        Path store = a.stateDir.resolve("packages");
        Path blob = Path.of("blobs", "workspace.tar.zst");

        String flipped = rewrittenCopy(store, good.getId(), "pkg-flipped", m -> {});
        byte[] bytes = Files.readAllBytes(store.resolve(flipped).resolve(blob));
        bytes[bytes.length / 2] ^= 0x04;
        Files.write(store.resolve(flipped).resolve(blob), bytes);
        assertRefused(Status.Code.DATA_LOSS, () -> restore(onA, flipped, "", ""), "workspace.tar.zst", "sha256");

        // kelpie packages cp: the damaged package is refused on its way and the target store never shows it; the good
        // one reads back the same from S3.
        KelpieCliRunner cliOnA = new KelpieCliRunner(a.socket, work);
        KelpieCliRunner.Result refusedCopy = cliOnA.run(Duration.ofSeconds(120), "packages", "cp", flipped, "--to",
                "shared");
        assertEquals(70, refusedCopy.exitCode(), refusedCopy.stderr());
        assertTrue(refusedCopy.stderr().contains("DATA_LOSS") && refusedCopy.stderr().contains("workspace.tar.zst"),
                refusedCopy.stderr());
        assertFalse(packageIds(onA, "shared").contains(flipped), "nothing of the damaged package was published");
        KelpieCliRunner.Result copied = cliOnA.run(Duration.ofSeconds(120), "packages", "cp", good.getId(), "--to",
                "shared");
        assertEquals(0, copied.exitCode(), copied.stderr());
        assertTrue(copied.stdout().startsWith(good.getId()) && copied.stdout().contains("store shared"), copied.stdout());
        assertEquals(manifestJson(onA, good.getId(), ""), manifestJson(onB, good.getId(), "shared"),
                "the other daemon reads the same manifest from S3, every blob of which the copy verified");

        String truncated = rewrittenCopy(store, good.getId(), "pkg-truncated", m -> {});
        Files.write(store.resolve(truncated).resolve(blob), java.util.Arrays.copyOf(bytes, bytes.length / 3));
        assertRefused(Status.Code.DATA_LOSS, () -> restore(onA, truncated, "", ""), "workspace.tar.zst");

        String missing = rewrittenCopy(store, good.getId(), "pkg-missing", m -> {});
        Files.delete(store.resolve(missing).resolve(blob));
        assertRefused(Status.Code.DATA_LOSS, () -> restore(onA, missing, "", ""), "missing");

        String notJson = rewrittenCopy(store, good.getId(), "pkg-not-json", m -> {});
        Files.writeString(store.resolve(notJson).resolve("manifest.json"), "{ this is not json");
        assertRefused(Status.Code.INVALID_ARGUMENT, () -> restore(onA, notJson, "", ""), "not valid JSON");

        String absurd = rewrittenCopy(store, good.getId(), "pkg-absurd", m -> ((ObjectNode) m.path("blobs").get(0))
                .put("uncompressed_size_bytes", Long.MAX_VALUE / 2));
        assertRefused(Status.Code.INVALID_ARGUMENT, () -> restore(onA, absurd, "", ""), "uncompressed bytes");

        // Each refused before anything exists (assertNothingLeft): escaping paths, and entries the agent would refuse
        // only after a VM had booted.
        var chr = new TarArchiveEntry("dev0", TarArchiveEntry.LF_CHR, true);
        chr.setDevMajor(1);
        chr.setDevMinor(3);
        Map<TarArchiveEntry, String> hostile = Map.of(
                fileEntry("../escape"), "a path with ..",
                fileEntry("/etc/evil"), "an absolute path",
                chr, "a character device",
                new TarArchiveEntry("pipe", TarArchiveEntry.LF_FIFO, true), "a fifo");
        for (var entry : hostile.entrySet()) {
            String crafted = packageWithWorkspaceEntry(store, good.getId(), entry.getKey());
            assertRefused(Status.Code.INVALID_ARGUMENT, () -> restore(onA, crafted, "", ""), entry.getValue());
        }
        assertNothingLeft(a, onA, 0);

        // A sealed package opens under its own key only; another key is named, not mistaken for damage.
        Sandbox sealedSource = onA.create(spec().build());
        onA.sh(sealedSource.getId(), "echo sealed > /workspace/s");
        PackageSummary sealedPkg = snapshot(onA, sealedSource.getId(), SnapshotKind.SNAPSHOT_KIND_CHECKPOINT, "sealed");
        onA.deleteAll();
        assertRefused(Status.Code.DATA_LOSS, () -> restore(onB, sealedPkg.getId(), "sealed", ""), "sealed under key");
        assertNothingLeft(b, onB, 0);
        Sandbox unsealed = restore(onA, sealedPkg.getId(), "sealed", "").getSandbox();
        assertEquals("sealed\n", onA.sh(unsealed.getId(), "cat /workspace/s"));
        onA.deleteAll();

        // An import of a damaged archive publishes nothing.
        ByteArrayOutputStream archive = new ByteArrayOutputStream();
        onA.packages().export(dev.kelpie.api.v1.ExportPackageRequest.newBuilder().setId(good.getId()).build())
                .forEachRemaining(c -> archive.writeBytes(c.getData().toByteArray()));
        byte[] damaged = archive.toByteArray();
        damaged[damaged.length - 4096] ^= 0x01;
        Path file = Files.write(work.resolve("damaged.tar"), damaged);
        int before = onB.packages().list(ListPackagesRequest.getDefaultInstance()).getPackagesCount();
        KelpieCliRunner.Result imported = new KelpieCliRunner(b.socket, work).run(Duration.ofSeconds(120), "packages",
                "import", file.toString());
        assertEquals(70, imported.exitCode(), imported.stderr());
        assertTrue(imported.stderr().contains("DATA_LOSS"), imported.stderr());
        assertEquals(before, onB.packages().list(ListPackagesRequest.getDefaultInstance()).getPackagesCount());
        assertNothingLeft(b, onB, 0);
    }

    private static List<String> packageIds(SandboxClient on, String store) {
        return on.packages().list(ListPackagesRequest.newBuilder().setStore(store).build()).getPackagesList().stream()
                .map(PackageSummary::getId).toList();
    }

    private static String manifestJson(SandboxClient on, String id, String store) {
        return on.packages().inspect(InspectPackageRequest.newBuilder().setId(id).setStore(store).build())
                .getManifestJson();
    }

    private static TarArchiveEntry fileEntry(String name) {
        var e = new TarArchiveEntry(name, true);
        e.setSize(3);
        return e;
    }

    /** A well-formed package (right hashes) whose workspace tar holds one entry that the restore must refuse. */
    private static String packageWithWorkspaceEntry(Path store, String likeId, TarArchiveEntry entry) throws IOException {
        ByteArrayOutputStream tar = new ByteArrayOutputStream();
        try (var out = new TarArchiveOutputStream(tar)) {
            out.putArchiveEntry(entry);
            if (entry.getSize() > 0) {
                out.write("bad".getBytes(StandardCharsets.US_ASCII));
            }
            out.closeArchiveEntry();
        }
        String id = "pkg-hostile-" + Integer.toHexString(entry.getName().hashCode());
        var codec = new dev.kelpie.teleport.pkg.ManifestCodec();
        var like = codec.read(Files.readAllBytes(store.resolve(likeId).resolve("manifest.json")), "test");
        Path staging = work.resolve("crafted-" + id);
        try (var writer = dev.kelpie.teleport.pkg.PackageWriter.create(staging)) {
            writer.addCompressed("workspace.tar.zst", new java.io.ByteArrayInputStream(tar.toByteArray()));
            writer.finish(new dev.kelpie.teleport.pkg.PackageManifest(like.formatVersion(), id, like.kind(),
                    like.baseImage(), like.platform(), like.createdAtUnixMs(), like.sourceSandbox(), like.labels(), null));
            Files.createDirectories(store.resolve(id).resolve("blobs"));
            Files.copy(staging.resolve("manifest.json"), store.resolve(id).resolve("manifest.json"));
            Files.copy(staging.resolve("blobs/workspace.tar.zst"), store.resolve(id).resolve("blobs/workspace.tar.zst"));
        }
        return id;
    }

    @Test
    void teleportMovesASandboxDirectlyToTheOtherDaemon() throws Exception {
        Sandbox source = onA.create(spec().putEnv("WHERE", "moved").build());
        onA.sh(source.getId(), "echo travelled > /workspace/note");
        KelpieCliRunner.Result moved = new KelpieCliRunner(a.socket, work).run(Duration.ofSeconds(300), "teleport",
                source.getId(), "--to", b.socket.toString());
        assertEquals(0, moved.exitCode(), moved.stderr());
        String newId = moved.stdout().strip();
        assertEquals(List.of(), onA.list(), "the source is gone after the move");
        assertEquals("travelled\n", onB.sh(newId, "cat /workspace/note"));
        assertEquals("moved\n", onB.sh(newId, "echo $WHERE"));
        String importedPackage = onB.get(newId).getRestoredFromPackageId();
        assertTrue(packageIds(onB, "").contains(importedPackage), "restored from the package imported on B: "
                + importedPackage);
    }

    /** Copies a package in a local store under a new id with its manifest changed. */
    static String rewrittenCopy(Path store, String id, String newId, java.util.function.Consumer<ObjectNode> change)
            throws IOException {
        Path from = store.resolve(id);
        Path to = store.resolve(newId);
        Path blobsTo = Files.createDirectories(to.resolve("blobs"));
        try (Stream<Path> blobs = Files.list(from.resolve("blobs"))) {
            for (Path blob : blobs.toList()) {
                Files.copy(blob, blobsTo.resolve(blob.getFileName()));
            }
        }
        ObjectNode manifest = (ObjectNode) JSON.readTree(from.resolve("manifest.json").toFile());
        manifest.put("id", newId);
        change.accept(manifest);
        JSON.writeValue(to.resolve("manifest.json").toFile(), manifest);
        return newId;
    }
}
