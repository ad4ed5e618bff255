package dev.kelpie.daemon.it;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The packaged daemon, started through its real launcher as a separate process, with its own state directory and
 * socket. Closing it always ends the process. However it ends (close, kill, exit), its log must hold no blocked-thread
 * warning ({@link BlockedThreadWarnings}): the test fails with the offending lines.
 */
final class DaemonProcess implements AutoCloseable {

    static final Duration START_TIMEOUT = Duration.ofSeconds(60);
    private static final Path LAUNCHER = Path.of(System.getProperty("kelpie.it.launcher", "bin/kelpied"));
    private static final Path APP_DIR = Path.of(System.getProperty("kelpie.it.appDir", "target/quarkus-app"));
    private static final Path PROBE_CACHE = Path.of("target", "it-probe-cache").toAbsolutePath();
    /** A native kelpied to test instead of the JVM build (-Dkelpie.nativeExecutable=...; release.yml's native job). */
    private static final String NATIVE_EXECUTABLE = System.getProperty("kelpie.it.nativeExecutable", "");

    final Path stateDir;
    final Path socket;
    final Path log;
    final Process process;

    private DaemonProcess(Path stateDir, Path socket, Path log, Process process) {
        this.stateDir = stateDir;
        this.socket = socket;
        this.log = log;
        this.process = process;
    }

    /** Starts a daemon without waiting for it. */
    static DaemonProcess start(Path stateDir, Path socket, Path log, String... jvmArgs) throws IOException {
        return start(stateDir, socket, log, Map.of(), jvmArgs);
    }

    /** Starts a daemon with extra environment variables, without waiting for it. */
    static DaemonProcess start(Path stateDir, Path socket, Path log, Map<String, String> extraEnv, String... jvmArgs)
            throws IOException {
        List<String> cmd = new ArrayList<>(List.of(LAUNCHER.toString()));
        cmd.addAll(List.of(jvmArgs));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        Map<String, String> env = pb.environment();
        // The test run's daemons share probe verdicts as a host's do, but never with the developer's own daemons.
        env.put("KELPIE_PROBE_CACHE_DIR", PROBE_CACHE.toString());
        env.putAll(extraEnv);
        env.put("KELPIE_APP_DIR", APP_DIR.toString());
        if (!NATIVE_EXECUTABLE.isBlank()) {
            env.put("KELPIE_NATIVE_EXECUTABLE", NATIVE_EXECUTABLE);
        }
        env.put("KELPIE_STATE_DIR", stateDir.toString());
        env.put("KELPIE_API_SOCKET", socket.toString());
        return new DaemonProcess(stateDir, socket, log, pb.start());
    }

    /** Starts a daemon and waits until its health service answers SERVING over the socket. */
    static DaemonProcess startServing(Path workDir, String name, String... jvmArgs) throws IOException {
        Path dir = Files.createDirectories(workDir.resolve(name));
        DaemonProcess daemon = start(dir.resolve("state"), dir.resolve("kelpied.sock"), dir.resolve("daemon.log"), jvmArgs);
        daemon.awaitServingOrStop();
        return daemon;
    }

    /** Starts a new daemon on this one's state directory and socket, and waits until it serves. */
    DaemonProcess startSuccessor(Path successorLog, String... jvmArgs) throws IOException {
        DaemonProcess next = start(stateDir, socket, successorLog, jvmArgs);
        next.awaitServingOrStop();
        return next;
    }

    /** Like {@link #awaitServing}, but a daemon that does not serve is stopped: the caller never got hold of it. */
    private void awaitServingOrStop() {
        try {
            awaitServing();
        } catch (RuntimeException | Error e) {
            process.destroyForcibly();
            throw e;
        }
    }

    void awaitServing() {
        BufCurl client = client();
        Await.until("kelpied to serve on " + socket, START_TIMEOUT, () -> {
            if (!process.isAlive()) {
                throw new AssertionError("kelpied exited with " + process.exitValue() + ":\n" + logText());
            }
            return Files.exists(socket) && client.call("grpc.health.v1.Health/Check", "{}").stdout().contains("SERVING");
        });
    }

    /** The Prometheus endpoint's socket, beside the API's by default. */
    Path metricsSocket() {
        String name = socket.getFileName().toString();
        return socket.resolveSibling(name.substring(0, name.length() - ".sock".length()) + "-metrics.sock");
    }

    BufCurl client() {
        return new BufCurl(socket);
    }

    /** Waits for the process to exit by itself and returns its exit code. */
    int awaitExit(Duration timeout) throws InterruptedException {
        if (!process.waitFor(Await.scaled(timeout).toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError("kelpied did not exit within " + timeout + ":\n" + logText());
        }
        BlockedThreadWarnings.assertNone(log);
        return process.exitValue();
    }

    /** SIGKILL: no shutdown hooks, the socket file stays behind. */
    void kill9() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
        BlockedThreadWarnings.assertNone(log);
    }

    String logText() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    @Override
    public void close() throws InterruptedException {
        // The launcher execs java (or the native executable), so this is the daemon itself: SIGTERM runs its graceful
        // shutdown.
        process.destroy();
        if (!process.waitFor(Await.scaled(Duration.ofSeconds(30)).toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
        }
        BlockedThreadWarnings.assertNone(log);
    }
}
