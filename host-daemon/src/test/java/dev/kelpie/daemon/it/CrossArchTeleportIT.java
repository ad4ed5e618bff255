package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kelpie.api.v1.NetworkMode;
import dev.kelpie.api.v1.NetworkPolicy;
import dev.kelpie.api.v1.PackageSummary;
import dev.kelpie.api.v1.RestoreRequest;
import dev.kelpie.api.v1.RestoreResponse;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxState;
import dev.kelpie.api.v1.SnapshotKind;
import dev.kelpie.api.v1.SnapshotRequest;
import dev.kelpie.runner.KrunDouble;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mac ⇄ Graviton on one machine: three packaged daemons that share one package store — QEMU running guests of the
 * host's architecture, QEMU running guests of the other one (emulated under TCG), and the libkrun backend (its C
 * double) — and a checkpoint made on each restored on each other, with its workspace bytes, env, labels and network
 * policy. A program built for the source's architecture is reported where it lands on the other one. {@code vm}
 * packages never cross architecture or backend. One sandbox at a time runs on the host.
 */
class CrossArchTeleportIT {

    private static final String STORE = "shared";
    private static final java.time.Duration CLI_TIMEOUT = java.time.Duration.ofSeconds(120);
    private static final Map<String, String> ENV = Map.of("GREETING", "from afar");
    private static final NetworkPolicy POLICY = NetworkPolicy.newBuilder().setMode(NetworkMode.NETWORK_MODE_EGRESS)
            .addAllow("example.com:443").build();

    @TempDir
    static Path work;
    static String hostArch;
    static String otherArch;
    static final List<Side> sides = new ArrayList<>();

    /** One daemon of the matrix and the guests it runs. */
    record Side(String name, DaemonProcess daemon, SandboxClient client, String arch, String backend, boolean network) {

        boolean emulated() {
            return !arch.equals(hostArch);
        }

        @Override
        public String toString() {
            return name + " (" + arch + " on " + backend + ")";
        }
    }

    @BeforeAll
    static void startDaemons() throws Exception {
        String imageDir = System.getProperty("kelpie.it.imageDir", "");
        String otherImageDir = System.getProperty("kelpie.it.otherArchImageDir", "");
        Assumptions.assumeFalse(imageDir.isBlank() || otherImageDir.isBlank(),
                "needs both arches' images (-Dkelpie.imageDir=... -Dkelpie.otherArchImageDir=...; scripts/dev passes them)");
        hostArch = JsonArch.of(Path.of(imageDir));
        otherArch = JsonArch.of(Path.of(otherImageDir));
        Path store = Files.createDirectories(work.resolve("store"));
        List<String> common = new ArrayList<>(List.of(SandboxesIT.daemonArgs(imageDir + "," + otherImageDir)));
        common.addAll(List.of("-Dkelpie.teleport.stores." + STORE + ".type=local",
                "-Dkelpie.teleport.stores." + STORE + ".path=" + store, "-Dkelpie.sandboxes.stop-grace=2s",
                // An emulated guest of the other architecture boots several times slower than a native one under TCG.
                "-Dkelpie.sandboxes.agent-ready-timeout=240s"));
        sides.add(side("native", common, hostArch, "qemu", true, Map.of(), "--backend=qemu"));
        sides.add(side("emulated", common, otherArch, "qemu", true, Map.of(), "--backend=qemu",
                "-Dkelpie.sandboxes.default-arch=" + otherArch));
        Path library = KrunDouble.build(work.resolve("krun-double"), KrunDouble.Variant.FULL);
        sides.add(side("libkrun", common, hostArch, "libkrun", false,
                Map.of(KrunDouble.RECORD_DIR_ENV, Files.createDirectories(work.resolve("krun-record")).toString()),
                "--backend=libkrun", "-Dkelpie.libkrun.library=" + library));
    }

    private static Side side(String name, List<String> common, String arch, String backend, boolean network,
            Map<String, String> env, String... extra) throws Exception {
        List<String> args = new ArrayList<>(common);
        args.addAll(List.of(extra));
        Path dir = Files.createDirectories(work.resolve(name));
        DaemonProcess d = DaemonProcess.start(dir.resolve("state"), dir.resolve("kelpied.sock"), dir.resolve("daemon.log"),
                env, args.toArray(String[]::new));
        d.awaitServing();
        return new Side(name, d, new SandboxClient(d.socket), arch, backend, network);
    }

    @AfterAll
    static void stopDaemons() throws Exception {
        for (Side s : sides) {
            try {
                s.client().deleteAll();
            } finally {
                s.client().close();
                s.daemon().close();
            }
        }
        List<ProcessHandle> left = ProcessHandle.allProcesses().filter(p -> p.info().commandLine()
                .map(c -> c.contains(work.toString())).orElse(false)).toList();
        left.forEach(ProcessHandle::destroyForcibly);
        assertEquals(List.of(), left, "no VM outlives the test");
    }

    @Test
    void eachDaemonReportsWhichGuestsItEmulates() throws Exception {
        for (Side s : sides) {
            Await.until(s + " to have chosen its backend", java.time.Duration.ofSeconds(60),
                    () -> !Probes.info(s.daemon()).path("selectedBackend").asText().isEmpty());
            JsonNode info = Probes.info(s.daemon());
            assertEquals(s.backend(), info.path("selectedBackend").asText(), info.toString());
            for (JsonNode a : info.path("guestArchs")) {
                String arch = a.path("arch").asText();
                assertEquals(!arch.equals(hostArch), a.path("emulated").asBoolean(), s + ": " + a);
                assertEquals(arch.equals(s.arch()), a.path("default").asBoolean(), s + ": " + a);
                boolean runs = s.backend().equals("qemu") || arch.equals(hostArch);
                assertEquals(runs, a.path("available").asBoolean(), s + ": " + a);
                if (!runs) {
                    assertTrue(a.path("reason").asText().contains("--backend=qemu"), a.toString());
                }
            }
            assertEquals(2, info.path("guestArchs").size(), info.toString());
        }
        // The CLI asks for the other arch and says it is emulated, as kelpie info does.
        Side nativeSide = sides.get(0);
        KelpieCliRunner cli = new KelpieCliRunner(nativeSide.daemon().socket, work);
        KelpieCliRunner.Result info = cli.run(CLI_TIMEOUT, "info");
        assertTrue(info.stdout().contains("guest      " + otherArch), info.stdout());
        assertTrue(info.stdout().lines().anyMatch(l -> l.contains(otherArch) && l.contains("emulated")), info.stdout());
        KelpieCliRunner.Result created = cli.run(CLI_TIMEOUT, "sandbox", "create", "--arch", otherArch);
        assertEquals(0, created.exitCode(), created.stderr());
        String id = created.stdout().strip();
        KelpieCliRunner.Result shown = cli.run(CLI_TIMEOUT, "sandbox", "show", id);
        assertTrue(shown.stdout().contains("(" + otherArch + ", emulated)"), shown.stdout());
        assertEquals(otherArch, nativeSide.client().sh(id, "uname -m").strip());
        nativeSide.client().deleteAll();

        // A sandbox asking for an architecture its backend cannot run is refused before anything boots.
        Side libkrun = sides.get(2);
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class,
                () -> libkrun.client().create(SandboxSpec.newBuilder().setArch(otherArch).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode(), refused.toString());
        assertTrue(refused.getStatus().getDescription().contains(otherArch), refused.toString());
        StatusRuntimeException unknown = assertThrows(StatusRuntimeException.class,
                () -> sides.get(0).client().create(SandboxSpec.newBuilder().setArch("sparc").build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, unknown.getStatus().getCode(), unknown.toString());
        assertTrue(unknown.getStatus().getDescription().contains("sparc"), unknown.toString());
        for (Side s : sides) {
            assertNothingLeft(s);
        }
    }

    @Test
    void aCheckpointMadeOnEachRestoresOnEachOther() throws Exception {
        for (Side from : sides) {
            Source source = checkpointOn(from);
            for (Side to : sides) {
                if (to != from) {
                    restoreAndCheck(source, to);
                }
            }
        }
    }

    /** What a checkpoint holds, as the source saw it. */
    record Source(Side side, String packageId, String dataSha256) {}

    private static Source checkpointOn(Side side) throws Exception {
        SandboxSpec.Builder spec = SandboxSpec.newBuilder().putAllEnv(ENV).putLabels("made-on", side.name());
        if (side.network()) {
            spec.setNetwork(POLICY);
        }
        Sandbox sandbox = side.client().create(spec.build());
        assertEquals(side.arch(), sandbox.getArch(), sandbox.toString());
        assertEquals(side.emulated(), sandbox.getEmulated(), sandbox.toString());
        assertEquals(side.arch(), side.client().sh(sandbox.getId(), "uname -m").strip());
        String sha = side.client().sh(sandbox.getId(), "head -c 300000 /dev/urandom > /workspace/data"
                + " && cp /bin/busybox /workspace/busybox && /workspace/busybox true"
                + " && sha256sum /workspace/data | cut -d' ' -f1").strip();
        PackageSummary pkg = side.client().sandboxes().snapshot(SnapshotRequest.newBuilder().setSandboxId(sandbox.getId())
                .setKind(SnapshotKind.SNAPSHOT_KIND_CHECKPOINT).setStore(STORE).setStopAfter(true).build()).getPackage();
        assertEquals(side.arch(), pkg.getArch(), pkg.toString());
        return new Source(side, pkg.getId(), sha);
    }

    private static void restoreAndCheck(Source source, Side to) throws Exception {
        String cell = source.side() + " -> " + to;
        RestoreRequest.Builder request = RestoreRequest.newBuilder().setPackageId(source.packageId()).setStore(STORE)
                .setAcceptPackagedNetwork(to.network());
        RestoreResponse restored = to.client().sandboxes().restore(request.build());
        Sandbox sandbox = restored.getSandbox();
        String id = sandbox.getId();
        assertEquals(SandboxState.SANDBOX_STATE_READY, sandbox.getState(), cell);
        assertEquals(to.arch(), sandbox.getArch(), cell);
        assertEquals(to.emulated(), sandbox.getEmulated(), cell);
        assertEquals(to.backend(), sandbox.getBackend(), cell);
        assertEquals(to.arch(), to.client().sh(id, "uname -m").strip(), cell);
        assertEquals(source.dataSha256(), to.client().sh(id, "sha256sum /workspace/data | cut -d' ' -f1").strip(), cell);
        assertEquals(ENV.get("GREETING") + "\n", to.client().sh(id, "echo \"$GREETING\""), cell);
        assertEquals(source.side().name(), sandbox.getSpec().getLabelsMap().get("made-on"), cell);
        boolean crossed = !source.side().arch().equals(to.arch());
        String foreign = "/workspace/busybox (" + source.side().arch() + ")";
        assertEquals(crossed, restored.getWarningsList().stream().anyMatch(w -> w.contains(foreign)),
                cell + ": " + restored.getWarningsList());
        if (!crossed) {
            to.client().sh(id, "/workspace/busybox true");
        }
        if (source.side().network() && to.network()) {
            assertEquals(POLICY, sandbox.getSpec().getNetwork(), cell);
        } else {
            assertEquals(NetworkMode.NETWORK_MODE_NONE, sandbox.getSpec().getNetwork().getMode(), cell);
        }
        to.client().deleteAll();
        assertNothingLeft(to);
    }

    @Test
    void aVmPackageCrossesNeitherArchitectureNorBackend() throws Exception {
        Side nativeSide = sides.get(0);
        Side emulated = sides.get(1);
        Side libkrun = sides.get(2);
        for (Side from : List.of(nativeSide, emulated)) {
            Sandbox sandbox = from.client().create(SandboxSpec.getDefaultInstance());
            String vm = from.client().sandboxes().snapshot(SnapshotRequest.newBuilder().setSandboxId(sandbox.getId())
                    .setKind(SnapshotKind.SNAPSHOT_KIND_VM).setStore(STORE).setStopAfter(true).build())
                    .getPackage().getId();
            String otherArchOf = from.arch().equals(hostArch) ? otherArch : hostArch;
            for (Side to : List.of(nativeSide, emulated)) {
                assertRefused(() -> to.client().sandboxes().restore(RestoreRequest.newBuilder().setPackageId(vm)
                        .setStore(STORE).setSpecOverrides(SandboxSpec.newBuilder().setArch(otherArchOf)).build()),
                        from.arch(), otherArchOf);
                assertNothingLeft(to);
            }
            // Asked as its own arch, so that the backend is what differs.
            assertRefused(() -> libkrun.client().sandboxes().restore(RestoreRequest.newBuilder().setPackageId(vm)
                    .setStore(STORE).setSpecOverrides(SandboxSpec.newBuilder().setArch(from.arch())).build()),
                    "qemu", "libkrun");
            assertNothingLeft(libkrun);
        }
    }

    private static void assertRefused(org.junit.jupiter.api.function.Executable call, String... named) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call);
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), e.toString());
        String message = e.getStatus().getDescription();
        for (String n : named) {
            assertTrue(message.contains(n), n + " in: " + message);
        }
        assertTrue(message.contains("take a checkpoint snapshot"), message);
    }

    private static void assertNothingLeft(Side side) throws IOException {
        assertEquals(List.of(), side.client().list(), side + ": no sandbox left");
        for (String dir : List.of("vms", "teleport-staging")) {
            Path path = side.daemon().stateDir.resolve(dir);
            if (Files.exists(path)) {
                try (Stream<Path> left = Files.list(path)) {
                    assertEquals(List.of(), left.toList(), side + ": nothing left in " + dir);
                }
            }
        }
        assertFalse(side.daemon().logText().contains("Exception in thread"), side + " log");
    }

    /** The arch an image directory's metadata.json names. */
    private static final class JsonArch {
        static String of(Path imageDir) throws IOException {
            return new com.fasterxml.jackson.databind.ObjectMapper().readTree(imageDir.resolve("metadata.json").toFile())
                    .path("arch").asText();
        }
    }
}
