package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.api.v1.InspectPackageRequest;
import dev.kelpie.api.v1.ListPackagesRequest;
import dev.kelpie.api.v1.PackageSummary;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxState;
import dev.kelpie.api.v1.SnapshotKind;
import dev.kelpie.api.v1.SnapshotRequest;
import dev.kelpie.api.v1.SnapshotResponse;
import dev.kelpie.daemon.agent.StreamCollector;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fault drill: the daemon is killed with SIGKILL while a vm snapshot is in progress (its VM paused or migrating), and
 * a new daemon takes over. The sandbox must be READY with a running guest, no staging file may remain, no package
 * may be half-published, and no qemu other than the sandbox's may be left.
 */
class SnapshotDrillIT {

    @TempDir
    static Path work;

    /** VMs outlive daemons by design; a failed drill must not leave its VM behind for the rest of the run. */
    @org.junit.jupiter.api.AfterAll
    static void killLeftVms() {
        ProcessHandle.allProcesses().filter(p -> p.info().commandLine()
                .map(c -> c.contains(work.toString()) && c.contains("qemu-system")).orElse(false))
                .forEach(ProcessHandle::destroyForcibly);
    }

    @Test
    void killNineMidSnapshotLeavesARunningSandboxAndNoHalfPackage() throws Exception {
        String imageDir = System.getProperty("kelpie.it.imageDir", "");
        Assumptions.assumeFalse(imageDir.isBlank(), "no image given (-Dkelpie.imageDir=...; scripts/dev passes it)");
        String[] args = SandboxesIT.daemonArgs(imageDir);
        DaemonProcess first = DaemonProcess.startServing(work, "drill", args);
        Path staging = first.stateDir.resolve("teleport-staging");
        String sandboxId;
        try (SandboxClient client = new SandboxClient(first.socket)) {
            Sandbox sandbox = client.create(SandboxSpec.getDefaultInstance());
            sandboxId = sandbox.getId();
            client.sh(sandboxId, "head -c 2000000 /dev/urandom > /workspace/data && md5sum /workspace/data > /workspace/sum");
            StreamCollector<SnapshotResponse> snapshot = new StreamCollector<>();
            dev.kelpie.api.v1.SandboxesGrpc.newStub(client.channel).snapshot(SnapshotRequest.newBuilder()
                    .setSandboxId(sandboxId).setKind(SnapshotKind.SNAPSHOT_KIND_VM).build(), snapshot);
            Await.until("the snapshot to be under way", Duration.ofSeconds(60), () -> {
                try (Stream<Path> dirs = Files.exists(staging) ? Files.list(staging) : Stream.empty()) {
                    return dirs.anyMatch(d -> d.getFileName().toString().startsWith("snapshot-"));
                } catch (java.io.IOException e) {
                    return false;
                }
            });
            first.kill9();
        }
        // Wherever the kill landed, make it the worst case: the guest's vCPUs stopped, as the save leaves them.
        qmp(first.stateDir.resolve("vms").resolve(sandboxId).resolve("qmp.sock"), "stop");

        try (DaemonProcess second = first.startSuccessor(work.resolve("drill/second.log"), args);
                SandboxClient client = new SandboxClient(second.socket)) {
            try (Stream<Path> left = Files.exists(staging) ? Files.list(staging) : Stream.empty()) {
                assertEquals(List.of(), left.toList(), "the new daemon removed the interrupted snapshot's staging");
            }
            assertEquals(SandboxState.SANDBOX_STATE_READY, client.list().get(0).getState());
            // A guest left stopped never answers: the exec's stream then ends without an exit within its deadline.
            assertTrue(client.sh(sandboxId, "cd /workspace && md5sum -c sum").contains("OK"),
                    "the re-adopted guest runs commands again, its files intact");
            for (PackageSummary p : client.packages().list(ListPackagesRequest.getDefaultInstance()).getPackagesList()) {
                // Published means complete: the manifest reads and names every blob.
                assertTrue(client.packages().inspect(InspectPackageRequest.newBuilder().setId(p.getId()).build())
                        .getPackage().getBlobsCount() >= 2, p.toString());
            }
            List<ProcessHandle> qemus = ProcessHandle.allProcesses().filter(p -> p.info().commandLine()
                    .map(c -> c.contains(work.toString()) && c.contains("qemu-system")).orElse(false)).toList();
            assertEquals(1, qemus.size(), "only the sandbox's own qemu runs: " + qemus);
            Leftovers.assertOnlyLiveSandboxes(work, second, client.list());
            client.deleteAll();
            Leftovers.assertOnlyLiveSandboxes(work, second, client.list());
        }
    }

    /** One QMP command, as an operator (or a dying daemon) would send it. */
    private static void qmp(Path socket, String command) throws java.io.IOException {
        try (var channel = java.nio.channels.SocketChannel.open(java.net.UnixDomainSocketAddress.of(socket))) {
            var in = new java.io.BufferedReader(new java.io.InputStreamReader(java.nio.channels.Channels.newInputStream(
                    channel), java.nio.charset.StandardCharsets.UTF_8));
            var out = java.nio.channels.Channels.newOutputStream(channel);
            in.readLine(); // greeting
            for (String execute : List.of("qmp_capabilities", command)) {
                out.write(("{\"execute\": \"" + execute + "\"}\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
                out.flush();
                String reply;
                do {
                    reply = in.readLine();
                } while (reply != null && reply.contains("\"event\""));
                assertTrue(reply != null && reply.contains("\"return\""), execute + ": " + reply);
            }
        }
    }
}
