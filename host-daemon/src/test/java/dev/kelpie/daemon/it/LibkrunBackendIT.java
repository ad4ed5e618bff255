package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.NetworkMode;
import dev.kelpie.api.v1.NetworkPolicy;
import dev.kelpie.api.v1.PortForward;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxState;
import dev.kelpie.api.v1.SnapshotKind;
import dev.kelpie.api.v1.SnapshotRequest;
import dev.kelpie.runner.KrunDouble;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged daemon on {@code --backend=libkrun}, with the libkrun double as its library: nothing else differs from
 * a qemu daemon. The double records each runner's calls and runs the configured guest under QEMU TCG, so a sandbox
 * really boots, runs commands and is deleted; killing its runner fails it as a dead qemu does. On a host with a real
 * libkrun, {@code -Dkelpie.it.libkrunLibrary=/usr/lib64/libkrun.so.1} runs the same tests against it, without the
 * checks only the double can answer (its call record, its injected failures).
 */
class LibkrunBackendIT {

    private static final String NO_PROXY_BYPASS = "no_proxy= NO_PROXY= ";
    private static final int GUEST_HTTP_PORT = 8000;

    @TempDir
    static Path work;
    static Path library;
    static Path recordDir;
    static String imageDir;
    static DaemonProcess daemon;

    @BeforeAll
    static void startDaemon() throws Exception {
        imageDir = System.getProperty("kelpie.it.imageDir", "");
        Assumptions.assumeFalse(imageDir.isBlank(), "no image given (-Dkelpie.imageDir=...; scripts/dev passes it)");
        String real = System.getProperty("kelpie.it.libkrunLibrary", "");
        library = real.isBlank() ? KrunDouble.build(work.resolve("krun-double"), KrunDouble.Variant.FULL) : Path.of(real);
        recordDir = Files.createDirectories(work.resolve("record"));
        daemon = start("libkrun", Map.of());
    }

    private static DaemonProcess start(String name, Map<String, String> doubleEnv) throws Exception {
        Path dir = Files.createDirectories(work.resolve(name));
        return start(dir.resolve("state"), dir.resolve("kelpied.sock"), dir.resolve("daemon.log"), doubleEnv);
    }

    private static DaemonProcess start(Path stateDir, Path socket, Path log, Map<String, String> doubleEnv) throws Exception {
        List<String> args = new ArrayList<>(List.of(SandboxesIT.daemonArgs(imageDir)));
        args.addAll(List.of("--backend=libkrun", "-Dkelpie.libkrun.library=" + library, "-Dkelpie.sandboxes.stop-grace=2s"));
        Map<String, String> env = new java.util.HashMap<>(doubleEnv);
        env.put(KrunDouble.RECORD_DIR_ENV, recordDir.toString());
        DaemonProcess d = DaemonProcess.start(stateDir, socket, log, env, args.toArray(String[]::new));
        d.awaitServing();
        return d;
    }

    @AfterAll
    static void stopDaemon() throws Exception {
        if (daemon != null) {
            try (SandboxClient client = new SandboxClient(daemon.socket)) {
                client.deleteAll();
            } finally {
                daemon.close();
                Leftovers.killProcessesNaming(work);
            }
        }
    }

    @Test
    void aSandboxBootsRunsCommandsAndIsDeletedThroughTheRunner() throws Exception {
        JsonNode info = Probes.info(daemon);
        assertEquals("libkrun", info.path("selectedBackend").asText(), info.toString());
        assertTrue(info.path("selectionReason").asText().startsWith("libkrun, as kelpie.backend=libkrun asks"), info.toString());

        try (SandboxClient client = new SandboxClient(daemon.socket)) {
            Sandbox sandbox = client.create(SandboxSpec.getDefaultInstance());
            assertEquals(SandboxState.SANDBOX_STATE_READY, sandbox.getState(), sandbox.toString());
            assertEquals("libkrun", sandbox.getBackend());
            String id = sandbox.getId();
            assertEquals("hello from libkrun\n", client.sh(id, "echo hello from libkrun"));

            Path vm = runtimeDir(id);
            long runner = runnerPid(id);
            if (usesTheDouble()) {
                assertEquals(expectedCalls(vm), callsOf(runner), "what the runner asked libkrun for");
            }

            StatusRuntimeException vmSnapshot = assertThrows(StatusRuntimeException.class, () -> client.sandboxes().snapshot(
                    SnapshotRequest.newBuilder().setSandboxId(id).setKind(SnapshotKind.SNAPSHOT_KIND_VM).build()));
            assertEquals(Status.Code.FAILED_PRECONDITION, vmSnapshot.getStatus().getCode(), vmSnapshot.toString());
            assertTrue(vmSnapshot.getStatus().getDescription().contains("take a checkpoint snapshot instead"), vmSnapshot.toString());
            assertEquals("still here\n", client.sh(id, "echo still here"), "a refused vm snapshot leaves the sandbox running");

            JsonNode network = Probes.info(daemon).path("network");
            assertTrue(network.path("egress").asBoolean() && network.path("portForwards").asBoolean(),
                    "Host.Info offers egress and port forwards on libkrun: " + network);

            client.sandboxes().delete(DeleteSandboxRequest.newBuilder().setId(id).build());
            assertTrue(client.list().stream().noneMatch(s -> s.getId().equals(id)));
            assertFalse(Files.exists(vm), "the runtime directory is removed");
            assertEquals(Set.of(), processesNaming(vm), "neither the runner nor its VM outlives the delete");
        }
    }

    @Test
    void theRunnerLeadsItsOwnSessionAndItsVmOutlivesTheDaemon() throws Exception {
        String id;
        long runner;
        HttpServer allowed = NetworkIT.serve("allowed-server");
        int port = allowed.getAddress().getPort();
        int published;
        try (SandboxClient client = new SandboxClient(daemon.socket)) {
            // With a network: a re-adopting daemon serves the proxy and the published port's listener again.
            id = client.create(SandboxSpec.newBuilder().setNetwork(NetworkPolicy.newBuilder()
                    .setMode(NetworkMode.NETWORK_MODE_EGRESS).addAllow("127.0.0.1:" + port)
                    .addPortForwards(PortForward.newBuilder().setGuestPort(GUEST_HTTP_PORT))).build()).getId();
            published = client.get(id).getPortForwards(0).getHostPort();
            if (usesTheDouble()) {
                // The mappings NetworkIT's cases travel over on this backend (ADR 0022 addendum): egress to the
                // proxy's socket, and the first forward's listen-mode port.
                Path vm = runtimeDir(id);
                List<String> calls = callsOf(runnerPid(id));
                assertTrue(calls.contains("krun_add_vsock_port2(0, 1025, \"" + vm.resolve("egress.sock") + "\", false) = 0")
                        && calls.contains("krun_add_vsock_port2(0, 1026, \"" + vm.resolve("fwd-1026.sock") + "\", true) = 0"),
                        "the egress and forward mappings: " + calls);
            }
            client.sh(id, "mkdir -p /tmp/www && echo adopted-server > /tmp/www/index.html && httpd -p " + GUEST_HTTP_PORT
                    + " -h /tmp/www");
            runner = runnerPid(id);
            assertEquals(runner, sessionOf(runner), "in a session of its own, out of reach of the daemon's terminal");
        }
        daemon.kill9();
        daemon = start(daemon.stateDir, daemon.socket, daemon.stateDir.resolveSibling("successor.log"), Map.of());
        try (SandboxClient client = new SandboxClient(daemon.socket)) {
            assertEquals(SandboxState.SANDBOX_STATE_READY, client.get(id).getState(), "re-adopted: " + client.get(id));
            assertEquals(runner, runnerPid(id), "the same runner, not a new VM");
            assertEquals("adopted\n", client.sh(id, "echo adopted"));
            NetworkIT.awaitHttp(published, "adopted-server");
            assertEquals("allowed-server\n", client.sh(id, NO_PROXY_BYPASS + "wget -q -O- http://127.0.0.1:" + port + "/"));
            client.sandboxes().delete(DeleteSandboxRequest.newBuilder().setId(id).build());
            Path vm = runtimeDir(id);
            Await.until("neither the runner nor its VM and relays to outlive the delete", Duration.ofSeconds(10),
                    () -> processesNaming(vm).isEmpty());
        } finally {
            allowed.stop(0);
        }
    }

    /** Field 6 of /proc/PID/stat, after the command name (which may hold spaces) in parentheses. */
    private static long sessionOf(long pid) throws Exception {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        return Long.parseLong(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[3]);
    }

    @Test
    void killingTheRunnerFailsTheSandboxLikeADeadQemu() throws Exception {
        try (SandboxClient client = new SandboxClient(daemon.socket)) {
            String id = client.create(SandboxSpec.getDefaultInstance()).getId();
            Path vm = runtimeDir(id);
            ProcessHandle.of(runnerPid(id)).orElseThrow().destroyForcibly();

            Await.until("the sandbox to be marked failed", Duration.ofSeconds(60),
                    () -> client.get(id).getState() == SandboxState.SANDBOX_STATE_FAILED);
            assertTrue(client.get(id).getFailureReason().contains("exited unexpectedly"), client.get(id).getFailureReason());
            Await.until("the runtime directory to be removed", Duration.ofSeconds(30), () -> !Files.exists(vm));
            Await.until("the VM to die with its runner", Duration.ofSeconds(30), () -> processesNaming(vm).isEmpty());
            var refused = client.start(id, SandboxesIT.sh("true")).await(Await.scaled(SandboxClient.CALL_TIMEOUT)).status();
            assertEquals(Status.Code.FAILED_PRECONDITION, refused.getCode(), refused.toString());

            client.sandboxes().delete(DeleteSandboxRequest.newBuilder().setId(id).build());
            assertTrue(client.list().stream().noneMatch(s -> s.getId().equals(id)), "Delete removes it");
        }
    }

    @Test
    void aRunnerThatCannotStartTheVmFailsTheCreateWithItsReasonAndLeavesNothing() throws Exception {
        Assumptions.assumeTrue(usesTheDouble(), "failures are injected through the libkrun double");
        DaemonProcess failing = start("libkrun-failing", Map.of(KrunDouble.FAIL_ENV, "krun_start_enter:2"));
        try (SandboxClient client = new SandboxClient(failing.socket)) {
            StatusRuntimeException refused = assertThrows(StatusRuntimeException.class,
                    () -> client.create(SandboxSpec.getDefaultInstance()));
            assertEquals(Status.Code.UNAVAILABLE, refused.getStatus().getCode(), refused.toString());
            assertTrue(refused.getStatus().getDescription().contains(
                    "libkrun: libkrun could not find what the VM needs: a file the configuration names"), refused.toString());
            assertEquals(List.of(), client.list(), "no sandbox is left of a failed create");
            assertEquals(Set.of(), childNames(failing.stateDir.resolve("vms")), "no runtime directory either");
        } finally {
            failing.close();
        }
        assertEquals(Set.of(), processesNaming(work.resolve("libkrun-failing")), "no runner or VM is left");
    }

    private static boolean usesTheDouble() {
        return System.getProperty("kelpie.it.libkrunLibrary", "").isBlank();
    }

    private static List<String> expectedCalls(Path vm) throws Exception {
        JsonNode meta = new com.fasterxml.jackson.databind.ObjectMapper().readTree(Path.of(imageDir, "metadata.json").toFile());
        String cmdline = "console=hvc0 " + meta.path("kernel_cmdline").asText().replaceAll("console=\\S+\\s*", "").strip();
        boolean x86 = meta.path("arch").asText().equals("x86_64");
        String kernel = Path.of(imageDir, x86 ? "vmlinux" : "Image").toString();
        return List.of(
                "krun_init_log(-1, 2, 2, 1) = 0",
                "krun_has_feature(1) = 1",
                "krun_get_max_vcpus() = 8",
                "krun_create_ctx() = 0",
                "krun_set_vm_config(0, 1, 256) = 0",
                "krun_set_kernel(0, \"" + kernel + "\", " + (x86 ? 1 : 0) + ", NULL, \"" + cmdline + "\") = 0",
                "krun_add_disk2(0, \"root\", \"" + Path.of(imageDir, "rootfs.ext4") + "\", 0, true) = 0",
                "krun_add_disk2(0, \"rw\", \"" + vm.resolve("rw.ext4") + "\", 0, false) = 0",
                "krun_disable_implicit_vsock(0) = 0",
                "krun_add_vsock(0, 0) = 0",
                "krun_add_vsock_port2(0, 1024, \"" + vm.resolve("agent.sock") + "\", true) = 0",
                "krun_set_console_output(0, \"" + vm.resolve("console.log") + "\") = 0",
                "krun_set_env(0, []) = 0",
                "krun_start_enter(0) = 0");
    }

    private static List<String> callsOf(long runnerPid) throws Exception {
        return Files.readAllLines(recordDir.resolve("calls-" + runnerPid + ".log")).stream()
                .filter(l -> !l.startsWith("#")).toList();
    }

    private static Path runtimeDir(String sandboxId) {
        return daemon.stateDir.resolve("vms").resolve(sandboxId);
    }

    /** The process whose command line names the sandbox's runner.json: the runner (its QEMU child names other files). */
    private static long runnerPid(String sandboxId) {
        String config = runtimeDir(sandboxId).resolve("runner.json").toString();
        List<ProcessHandle> runners = ProcessHandle.allProcesses()
                .filter(p -> p.info().arguments().map(a -> List.of(a).contains(config)).orElse(false)).toList();
        assertEquals(1, runners.size(), "one runner for " + sandboxId + ": " + runners);
        return runners.getFirst().pid();
    }

    private static Set<String> processesNaming(Path dir) {
        return Leftovers.processesNaming(dir, daemon == null ? Set.of() : Set.of(daemon.process.pid()));
    }

    private static Set<String> childNames(Path dir) throws Exception {
        return Leftovers.childNames(dir);
    }
}
