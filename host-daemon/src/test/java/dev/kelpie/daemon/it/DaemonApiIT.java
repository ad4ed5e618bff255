package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The packaged daemon's API over its Unix socket, explored as an operator would, through reflection only. */
class DaemonApiIT {

    private static final ObjectMapper JSON = new ObjectMapper();
    /**
     * On the unified Vert.x server 2 of 500 rounds failed (its HTTP/2 layer closes a connection at the 200th reset
     * within 30 s), and grpcurl-style runs broke about once in 20 to 30 (a missed reset, quarkusio/quarkus#56268).
     */
    private static final int ABANDONED_REFLECTION_ROUNDS = 500;
    private static final long UNARY_DEADLINE_SECONDS = 10;

    @TempDir
    static Path work;

    static DaemonProcess daemon;

    @BeforeAll
    static void startDaemon() throws IOException {
        daemon = DaemonProcess.startServing(work, "api");
    }

    @AfterAll
    static void stopDaemon() throws InterruptedException {
        if (daemon != null) {
            daemon.close();
        }
    }

    @Test
    void reflectionListsExactlyTheDocumentedMethods() throws IOException {
        Set<String> served = daemon.client().listMethods().requireSuccess().stdout().lines().map(String::strip)
                .filter(l -> !l.isEmpty()).collect(Collectors.toCollection(TreeSet::new));
        assertEquals(ReadmeApiList.documentedMethods(), served,
                "README's API list and the served methods differ; update one of them");
    }

    @Test
    void reflectionListsItselfAmongTheServices() throws Exception {
        try (UnixSocketChannels channels = new UnixSocketChannels()) {
            ManagedChannel channel = channels.open(daemon.socket);
            try {
                Set<String> services = new ReflectionCalls(channel).listServices();
                assertTrue(services.contains("grpc.reflection.v1.ServerReflection"), services.toString());
                assertTrue(services.contains("kelpie.v1.Sandboxes"), services.toString());
            } finally {
                channel.shutdownNow();
            }
        }
    }

    /**
     * A grpcurl-style client on one connection: reflection streams abandoned while the server answers, each followed
     * by a unary call. A server that misses a reset and then writes to the stream tears the connection down (GOAWAY),
     * and the unary call fails with UNAVAILABLE.
     */
    @Test
    void abandonedReflectionStreamsLeaveTheConnectionUsable() throws Exception {
        List<String> failures = new ArrayList<>();
        try (UnixSocketChannels channels = new UnixSocketChannels()) {
            ManagedChannel channel = channels.open(daemon.socket);
            try {
                ReflectionCalls reflection = new ReflectionCalls(channel);
                for (int round = 0; round < ABANDONED_REFLECTION_ROUNDS; round++) {
                    try {
                        reflection.abandon("kelpie.v1.Sandboxes", round % 2 == 0);
                        HealthCheckResponse health = HealthGrpc.newBlockingStub(channel)
                                .withDeadlineAfter(Await.scaled(java.time.Duration.ofSeconds(UNARY_DEADLINE_SECONDS))
                                        .toMillis(), TimeUnit.MILLISECONDS)
                                .check(HealthCheckRequest.getDefaultInstance());
                        assertEquals(HealthCheckResponse.ServingStatus.SERVING, health.getStatus());
                    } catch (RuntimeException | AssertionError e) {
                        failures.add("round " + round + ": " + e);
                    }
                }
            } finally {
                channel.shutdownNow();
            }
        }
        assertEquals(0, failures.size(), failures.size() + " of " + ABANDONED_REFLECTION_ROUNDS + " rounds failed: "
                + failures.subList(0, Math.min(5, failures.size())));
    }

    @Test
    void prometheusMetricsAreServedOnTheirOwnSocketWithTheGrpcServersCalls() throws Exception {
        daemon.client().call("kelpie.v1.Host/Info", "{}").requireSuccess();
        Process curl = new ProcessBuilder("curl", "-sS", "--fail", "--max-time", "30", "--unix-socket",
                daemon.metricsSocket().toString(), "http://localhost/q/metrics").redirectErrorStream(true).start();
        String metrics = new String(curl.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(0, curl.waitFor(), metrics);
        assertTrue(metrics.contains("kelpie_warm_pool_target"), metrics);
        assertTrue(metrics.matches("(?s).*grpc_server_processing_duration_seconds_count\\{[^}]*method=\"Info\""
                + "[^}]*statusCode=\"OK\".*"), "gRPC server metrics by method and status: " + metrics);
        assertEquals("rw-rw----", modeOf(daemon.metricsSocket()));
    }

    @Test
    void healthIsServing() throws IOException {
        JsonNode health = JSON.readTree(daemon.client().call("grpc.health.v1.Health/Check", "{}").requireSuccess().stdout());
        assertEquals("SERVING", health.path("status").asText());
    }

    @Test
    void hostInfoDescribesTheHostAndProbesQemu() throws IOException {
        JsonNode info = JSON.readTree(daemon.client().call("kelpie.v1.Host/Info", "{}").requireSuccess().stdout());
        assertEquals("v1", info.path("apiVersion").asText());
        assertFalse(info.path("daemonVersion").asText().isEmpty());
        assertEquals("linux", info.path("hostOs").asText());
        String arch = System.getProperty("os.arch").equals("amd64") ? "x86_64" : System.getProperty("os.arch");
        assertEquals(arch, info.path("hostArch").asText());
        assertEquals(Runtime.getRuntime().availableProcessors(), info.path("hostCpuCount").asInt());
        assertTrue(info.path("hostMemoryMib").asLong() > 0);
        assertEquals(daemon.stateDir.toString(), info.path("stateDir").asText());

        JsonNode qemu = Probes.awaitBackend(daemon, "qemu");
        assertEquals("PROBE_STATUS_AVAILABLE", qemu.path("status").asText(), qemu.toString());
        assertTrue(qemu.path("version").asText().matches("\\d+\\.\\d+.*"), qemu.toString());
        assertEquals("PROBE_STATUS_AVAILABLE", Probes.accelerator(qemu, "tcg").path("status").asText());
        // A device node proves nothing: without a booted kernel KVM may be untested or unavailable, never "available".
        assertFalse(Probes.accelerator(qemu, "kvm").path("status").asText().equals("PROBE_STATUS_AVAILABLE")
                && Probes.accelerator(qemu, "kvm").path("probeDurationMs").asLong() == 0, qemu.toString());

        JsonNode libkrun = Probes.awaitBackend(daemon, "libkrun");
        assertFalse(libkrun.path("reason").asText().isEmpty() && !libkrun.path("status").asText().equals("PROBE_STATUS_AVAILABLE"),
                "an unavailable libkrun must say why: " + libkrun);
        JsonNode settled = JSON.readTree(daemon.client().call("kelpie.v1.Host/Info", "{}").requireSuccess().stdout());
        assertFalse(settled.path("selectedBackend").asText().isEmpty(), settled.toString());
        assertFalse(settled.path("selectionReason").asText().isEmpty(), settled.toString());
    }

    @Test
    void socketIsReadableAndWritableByOwnerAndGroupOnly() throws IOException {
        assertTrue(Files.readAttributes(daemon.socket, java.nio.file.attribute.BasicFileAttributes.class,
                LinkOption.NOFOLLOW_LINKS).isOther(), "the API endpoint is a socket");
        // The daemon narrows the umask's 0770 to 0660 right after binding, asynchronously.
        Await.until("socket mode 0660", java.time.Duration.ofSeconds(10), () -> modeOf(daemon.socket).equals("rw-rw----"));
    }

    private static String modeOf(Path path) {
        try {
            return PosixFilePermissions.toString(Files.getPosixFilePermissions(path, LinkOption.NOFOLLOW_LINKS));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Reads the list of methods that README.md documents between its api-methods markers. */
    static final class ReadmeApiList {
        static Set<String> documentedMethods() throws IOException {
            String readme = Files.readString(Path.of(System.getProperty("kelpie.it.readme", "../README.md")));
            int start = readme.indexOf("<!-- api-methods:start -->");
            int end = readme.indexOf("<!-- api-methods:end -->");
            assertTrue(start >= 0 && end > start, "README.md lacks the api-methods markers");
            return Arrays.stream(readme.substring(start, end).split("\n")).map(String::strip)
                    .filter(l -> l.matches("[\\w.]+/\\w+")).collect(Collectors.toCollection(TreeSet::new));
        }
    }
}
