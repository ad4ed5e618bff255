package dev.kelpie.teleport.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.Proxy;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * A real S3 API server for tests: s3proxy 3.0.0 over a local directory, run as its own JVM because its fat jar
 * bundles a Jetty and jclouds that must never meet Quarkus's classpath.
 */
public final class S3ProxyServer implements AutoCloseable {

    /** Where surefire/failsafe put the s3proxy fat jar (copied by maven-dependency-plugin). */
    public static final String JAR_PROPERTY = "kelpie.it.s3proxyJar";

    private static final String ACCESS_KEY_ID = "kelpie-test-access-key";
    private static final String SECRET_ACCESS_KEY = "kelpie-test-secret-key";
    private static final String REGION = "us-east-1";

    /** Same knob as the integration tests' Await: scales every deadline on slow machines. */
    private static final double TIMEOUT_FACTOR = Double.parseDouble(System.getProperty("kelpie.test.timeoutFactor", "1"));
    private static final long STARTUP_TIMEOUT_MS = scaledMillis(60_000);
    private static final long STOP_TIMEOUT_MS = scaledMillis(10_000);
    private static final long POLL_INTERVAL_MS = 100;
    private static final int PROBE_TIMEOUT_MS = 1_000;
    /** Choosing a free port and binding it later is a race another process can win; a few retries make it moot. */
    private static final int MAX_PORT_ATTEMPTS = 5;
    private static final int LOG_TAIL_LINES = 40;
    /**
     * A short-lived test server is dominated by JVM startup: C1 alone and the serial collector cut it by about a
     * third on a loaded 2-CPU machine, and a test's few MiB of traffic never need C2.
     */
    private static final List<String> JVM_OPTIONS = List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC");
    /** What s3proxy 3.0.0's Main logs before exiting 1 when Jetty cannot bind its endpoint. */
    private static final String BIND_FAILURE_MARKER = "Failed to bind";

    private final Process process;
    private final URI endpoint;
    private final Path log;
    private final Thread shutdownHook;
    private final List<S3Client> clients = new ArrayList<>();
    private S3Client adminClient;
    private boolean closed;

    private S3ProxyServer(Process process, URI endpoint, Path log, Thread shutdownHook) {
        this.process = process;
        this.endpoint = endpoint;
        this.log = log;
        this.shutdownHook = shutdownHook;
    }

    /** Starts s3proxy with its data, config and log under {@code workDir}; returns once it answers HTTP. */
    public static S3ProxyServer start(Path workDir) {
        String jar = System.getProperty(JAR_PROPERTY);
        if (jar == null || jar.isBlank()) {
            throw new IllegalStateException("system property " + JAR_PROPERTY + " is not set; run through Maven"
                    + " (surefire/failsafe set it to target/s3proxy/s3proxy.jar after process-test-resources)");
        }
        return start(workDir, Path.of(jar));
    }

    static S3ProxyServer start(Path workDir, Path jar) {
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException("s3proxy jar " + jar + " does not exist; run `mvn process-test-resources`"
                    + " (maven-dependency-plugin copies it there)");
        }
        try {
            Path dataDir = Files.createDirectories(workDir.resolve("data"));
            for (int attempt = 1; ; attempt++) {
                int port = freeLoopbackPort();
                URI endpoint = URI.create("http://127.0.0.1:" + port);
                Path config = writeConfig(workDir, endpoint, dataDir);
                Path log = workDir.resolve("s3proxy.log");
                List<String> command = new ArrayList<>();
                command.add(javaBinary());
                command.addAll(JVM_OPTIONS);
                command.addAll(List.of("-jar", jar.toString(), "--properties", config.toString()));
                Process process = new ProcessBuilder(command)
                        .redirectErrorStream(true)
                        .redirectOutput(log.toFile())
                        .start();
                // A test JVM that exits without close() (crash in @BeforeAll, Ctrl-C) must still not leave s3proxy behind.
                Thread hook = new Thread(() -> stop(process), "s3proxy-reaper-" + port);
                Runtime.getRuntime().addShutdownHook(hook);
                try {
                    awaitReady(process, endpoint, log);
                    return new S3ProxyServer(process, endpoint, log, hook);
                } catch (LostPortRaceException e) {
                    discard(process, hook);
                    if (attempt >= MAX_PORT_ATTEMPTS) {
                        throw new IllegalStateException("s3proxy could not bind a free port in " + MAX_PORT_ATTEMPTS
                                + " attempts; last log:\n" + tail(log), e);
                    }
                } catch (RuntimeException | Error e) {
                    discard(process, hook);
                    throw e;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("could not start s3proxy in " + workDir, e);
        }
    }

    public URI endpoint() {
        return endpoint;
    }

    public String accessKeyId() {
        return ACCESS_KEY_ID;
    }

    public String secretAccessKey() {
        return SECRET_ACCESS_KEY;
    }

    public String region() {
        return REGION;
    }

    /** The s3proxy JVM, so tests can check it is gone after {@link #close()}. */
    public ProcessHandle processHandle() {
        return process.toHandle();
    }

    /** The combined stdout/stderr of s3proxy, for diagnosing a failing test. */
    public Path log() {
        return log;
    }

    /**
     * A new client configured the way S3-compatible servers need; closed by {@link #close()}.
     *
     * <p>Path-style because virtual-host addressing would need DNS for {@code bucket.127.0.0.1}; checksums only
     * when an operation requires them because s3proxy 3.0.0 cannot verify the SDK's default flexible-checksum
     * uploads (aws-chunked bodies with a CRC32 trailer) and rejects them with 400 XAmzContentSHA256Mismatch.
     */
    public synchronized S3Client client() {
        ensureOpen();
        S3Client client = S3Client.builder()
                .endpointOverride(endpoint)
                .forcePathStyle(true)
                .region(Region.of(REGION))
                .credentialsProvider(StaticCredentialsProvider.create(
                        AwsBasicCredentials.create(ACCESS_KEY_ID, SECRET_ACCESS_KEY)))
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                // A builder, not an instance, so the SDK owns the HTTP client and closes it with the S3Client.
                .httpClientBuilder(UrlConnectionHttpClient.builder())
                .build();
        clients.add(client);
        return client;
    }

    public synchronized void createBucket(String name) {
        ensureOpen();
        if (adminClient == null) {
            adminClient = client();
        }
        adminClient.createBucket(b -> b.bucket(name));
    }

    /** Closes the clients handed out, then stops s3proxy and waits until its process (and any child) is gone. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        clients.forEach(S3Client::close);
        clients.clear();
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException alreadyShuttingDown) {
            // The hook is running or about to, and does the same as below.
        }
        stop(process);
        if (process.isAlive()) {
            throw new IllegalStateException("s3proxy (pid " + process.pid() + ") survived destroyForcibly");
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("S3ProxyServer at " + endpoint + " is closed");
        }
    }

    private static Path writeConfig(Path workDir, URI endpoint, Path dataDir) throws IOException {
        Properties config = new Properties();
        config.setProperty("s3proxy.endpoint", endpoint.toString());
        // Signed requests, as production S3 demands, so a client that forgets credentials or signs wrong fails here too.
        config.setProperty("s3proxy.authorization", "aws-v2-or-v4");
        config.setProperty("s3proxy.identity", ACCESS_KEY_ID);
        config.setProperty("s3proxy.credential", SECRET_ACCESS_KEY);
        // The SDK sends x-amz-checksum-crc32 even under WHEN_REQUIRED for operations whose model demands a checksum
        // (DeleteObjects); s3proxy knows no such header and would answer 501 NotImplemented. Real S3 accepts it.
        config.setProperty("s3proxy.ignore-unknown-headers", "true");
        // 3.0.0 deprecates the jclouds "filesystem" provider in favour of its own NIO.2 one (same basedir key); the
        // old one logs a warning at startup. Local providers need no jclouds.identity/credential.
        config.setProperty("jclouds.provider", "filesystem-nio2");
        config.setProperty("jclouds.filesystem.basedir", dataDir.toString());
        Path file = workDir.resolve("s3proxy.properties");
        try (OutputStream out = Files.newOutputStream(file)) {
            config.store(out, "written by " + S3ProxyServer.class.getName());
        }
        return file;
    }

    private static void awaitReady(Process process, URI endpoint, Path log) {
        long startNanos = System.nanoTime();
        long deadlineNanos = startNanos + TimeUnit.MILLISECONDS.toNanos(STARTUP_TIMEOUT_MS);
        while (true) {
            if (!process.isAlive()) {
                if (tail(log).contains(BIND_FAILURE_MARKER)) {
                    throw new LostPortRaceException();
                }
                throw new IllegalStateException("s3proxy exited with status " + process.exitValue()
                        + " before answering on " + endpoint + "; log " + log + " ends:\n" + tail(log));
            }
            // Checked after the probe too: another process that won the port race could answer while ours is dying.
            if (answersAsS3(endpoint) && process.isAlive()) {
                return;
            }
            if (System.nanoTime() > deadlineNanos) {
                throw new IllegalStateException("s3proxy did not answer on " + endpoint + " within "
                        + STARTUP_TIMEOUT_MS + " ms; log " + log + " ends:\n" + tail(log));
            }
            try {
                Thread.sleep(POLL_INTERVAL_MS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted waiting for s3proxy on " + endpoint, e);
            }
        }
    }

    /** Any S3-shaped reply counts (an unsigned request gets 403 AccessDenied): Jetty is up and routing to s3proxy. */
    private static boolean answersAsS3(URI endpoint) {
        HttpURLConnection connection = null;
        try {
            connection = (HttpURLConnection) endpoint.resolve("/").toURL().openConnection(Proxy.NO_PROXY);
            connection.setConnectTimeout(PROBE_TIMEOUT_MS);
            connection.setReadTimeout(PROBE_TIMEOUT_MS);
            connection.getResponseCode();
            return connection.getHeaderField("x-amz-request-id") != null;
        } catch (IOException notYet) {
            return false;
        } finally {
            if (connection != null) {
                drainQuietly(connection);
                connection.disconnect();
            }
        }
    }

    private static void drainQuietly(HttpURLConnection connection) {
        try (InputStream body = connection.getErrorStream()) {
            if (body != null) {
                body.readAllBytes();
            }
        } catch (IOException ignored) {
            // Only releasing the connection; the probe's verdict is already made.
        }
    }

    private static void discard(Process process, Thread hook) {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException alreadyShuttingDown) {
            // The hook will stop the process itself.
        }
        stop(process);
    }

    /** SIGTERM first so Jetty shuts down cleanly, SIGKILL for whatever is left when the deadline passes. */
    private static void stop(Process process) {
        // Collected before the parent dies: orphans are re-parented and would no longer show up as descendants.
        List<ProcessHandle> handles = Stream.concat(process.descendants(), Stream.of(process.toHandle())).toList();
        handles.forEach(ProcessHandle::destroy);
        if (awaitExit(handles)) {
            return;
        }
        handles.forEach(ProcessHandle::destroyForcibly);
        awaitExit(handles);
    }

    private static boolean awaitExit(List<ProcessHandle> handles) {
        long deadlineNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(STOP_TIMEOUT_MS);
        for (ProcessHandle handle : handles) {
            long remainingNanos = Math.max(0, deadlineNanos - System.nanoTime());
            try {
                handle.onExit().get(remainingNanos, TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                return false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            } catch (ExecutionException e) {
                throw new IllegalStateException("waiting for pid " + handle.pid() + " failed", e);
            }
        }
        return true;
    }

    private static int freeLoopbackPort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    /** The same JDK that runs the tests, so s3proxy needs no separate Java installation. */
    private static String javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    private static String tail(Path log) {
        try {
            // Lenient decoding: a log cut off mid-character must still be shown.
            List<String> lines = new String(Files.readAllBytes(log), StandardCharsets.UTF_8).lines().toList();
            return String.join("\n", lines.subList(Math.max(0, lines.size() - LOG_TAIL_LINES), lines.size()));
        } catch (IOException e) {
            return "(log " + log + " unreadable: " + e + ")";
        }
    }

    private static long scaledMillis(long millis) {
        return (long) (millis * TIMEOUT_FACTOR);
    }

    private static final class LostPortRaceException extends RuntimeException {
        LostPortRaceException() {
            super("s3proxy lost the race for its port", null, false, false);
        }
    }
}
