package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon as systemd runs it (deploy/systemd/kelpied.service): it notifies readiness only once its API answers,
 * says when it stops, and — with the unit's KillMode=process, where SIGTERM reaches the JVM alone — a restart
 * finds the VMs still running and re-adopts them.
 */
class ServiceIT {

    private static final Duration CLI_TIMEOUT = Duration.ofSeconds(240);
    /** 128 + SIGTERM: how a JVM ends after an orderly shutdown on SIGTERM; the unit's SuccessExitStatus. */
    private static final int EXIT_ON_SIGTERM = 143;

    @TempDir
    Path work;

    @Test
    void readinessIsNotifiedOnlyOnceTheApiAnswersAndStoppingAtShutdown() throws Exception {
        Path socket = work.resolve("notify.sock");
        Path received = work.resolve("notify.log");
        Process listener = new ProcessBuilder("python3", "-c", """
                import socket, sys
                s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                s.bind(sys.argv[1])
                out = open(sys.argv[2], "a")
                print("listening", file=out, flush=True)
                while True:
                    print(repr(s.recv(4096).decode()), file=out, flush=True)
                """, socket.toString(), received.toString()).redirectErrorStream(true)
                .redirectOutput(work.resolve("listener.out").toFile()).start();
        try {
            Await.until("the notify listener", Duration.ofSeconds(30), () -> read(received).contains("listening"));
            Path dir = Files.createDirectories(work.resolve("notified"));
            DaemonProcess daemon = DaemonProcess.start(dir.resolve("state"), dir.resolve("kelpied.sock"),
                    dir.resolve("daemon.log"), Map.of("NOTIFY_SOCKET", socket.toString()));
            Await.until("READY=1 from kelpied", DaemonProcess.START_TIMEOUT, () -> {
                if (!daemon.process.isAlive()) {
                    throw new AssertionError("kelpied exited:\n" + daemon.logText());
                }
                return read(received).contains("READY=1");
            });
            // Whatever told systemd READY, the API answers now, without waiting.
            assertTrue(daemon.client().call("grpc.health.v1.Health/Check", "{}").stdout().contains("SERVING"));
            assertTrue(read(received).contains("MAINPID=" + daemon.process.pid()), read(received));
            assertTrue(read(received).contains("STATUS=serving on " + daemon.socket), read(received));

            daemon.process.destroy();
            assertTrue(daemon.process.waitFor(60, TimeUnit.SECONDS));
            assertEquals(EXIT_ON_SIGTERM, daemon.process.exitValue(), daemon.logText());
            Await.until("STOPPING=1 from kelpied", Duration.ofSeconds(10), () -> read(received).contains("STOPPING=1"));
        } finally {
            listener.destroyForcibly().waitFor();
        }
    }

    @Test
    void logsCanBeOneJsonObjectPerLine() throws Exception {
        Path dir = Files.createDirectories(work.resolve("json-logs"));
        DaemonProcess daemon = DaemonProcess.start(dir.resolve("state"), dir.resolve("kelpied.sock"),
                dir.resolve("daemon.log"), Map.of("KELPIE_LOG_JSON", "true"));
        try {
            daemon.awaitServing();
        } finally {
            daemon.close();
        }
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        List<String> lines = daemon.logText().lines().filter(l -> !l.isBlank()).toList();
        assertTrue(lines.size() > 3, daemon.logText());
        for (String line : lines) {
            var record = json.readTree(line); // throws on a line that is not JSON
            assertTrue(record.hasNonNull("level") && record.hasNonNull("message"), line);
        }
        assertTrue(lines.stream().anyMatch(l -> l.contains("locked by pid " + daemon.process.pid())), daemon.logText());
    }

    @Test
    void aRestartThatSignalsOnlyTheDaemonFindsItsVmsRunningAndReadoptsThem() throws Exception {
        String imageDir = System.getProperty("kelpie.it.imageDir", "");
        Assumptions.assumeFalse(imageDir.isBlank(), "no image given (-Dkelpie.imageDir=...; scripts/dev passes it)");
        String[] args = SandboxesIT.daemonArgs(imageDir);
        DaemonProcess daemon = DaemonProcess.startServing(work, "restarted", args);
        KelpieCliRunner cli = new KelpieCliRunner(daemon.socket, work);
        var created = cli.run(CLI_TIMEOUT, "sandbox", "create");
        assertEquals(0, created.exitCode(), created.stderr());
        String id = created.stdout().strip();
        long qemu = qemuPid(daemon.stateDir);

        // KillMode=process: systemd sends SIGTERM to the main process only, as destroy() does here.
        daemon.process.destroy();
        assertTrue(daemon.process.waitFor(60, TimeUnit.SECONDS));
        assertTrue(ProcessHandle.of(qemu).map(ProcessHandle::isAlive).orElse(false), "the VM outlived the daemon");

        DaemonProcess successor = daemon.startSuccessor(work.resolve("restarted/successor.log"), args);
        try {
            var echoed = cli.run(CLI_TIMEOUT, "exec", id, "--", "echo", "still here");
            assertEquals("still here", echoed.stdout().strip(), echoed.stderr() + successor.logText());
            assertEquals(qemu, qemuPid(successor.stateDir), "the same VM, re-adopted, not a new one");
            assertEquals(0, cli.run(CLI_TIMEOUT, "sandbox", "rm", id).exitCode());
        } finally {
            successor.close();
        }
    }

    private static long qemuPid(Path stateDir) throws IOException {
        try (Stream<Path> pids = Files.find(stateDir.resolve("vms"), 2, (p, a) -> p.endsWith("qemu.pid"))) {
            List<Path> files = pids.toList();
            assertEquals(1, files.size(), files.toString());
            return Long.parseLong(Files.readString(files.getFirst()).strip());
        }
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            return "";
        }
    }
}
