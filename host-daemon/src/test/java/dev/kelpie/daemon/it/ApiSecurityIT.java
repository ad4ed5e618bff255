package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.api.v1.HostGrpc;
import dev.kelpie.api.v1.HostInfoRequest;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The API over TCP off loopback, as a remote client sees it: TLS only, and every call authenticated by a client
 * certificate from the configured CA or by the bearer token — and a daemon that would serve plaintext off
 * loopback refuses to start.
 */
class ApiSecurityIT {

    private static final String TOKEN = "kelpie-test-token-1f2e3d4c5b6a7980a1b2c3d4";
    private static final long CALL_DEADLINE_SECONDS = 30;

    @TempDir
    static Path work;
    static String address;
    static int port;
    static int metricsPort;
    static TestCertificates.KeyPair ca;
    static TestCertificates.KeyPair client;
    static TestCertificates.KeyPair intruder;
    static DaemonProcess daemon;

    @BeforeAll
    static void startDaemonOffLoopback() throws Exception {
        Optional<String> nonLoopback = nonLoopbackAddress();
        Assumptions.assumeTrue(nonLoopback.isPresent(), "this host has no non-loopback IPv4 address");
        address = nonLoopback.get();
        port = freePort();
        metricsPort = freePort();
        TestCertificates certificates = new TestCertificates(Files.createDirectories(work.resolve("pki")));
        ca = certificates.authority("kelpie-test-ca");
        TestCertificates.KeyPair server = certificates.signed(ca, "kelpied", List.of("127.0.0.1", address));
        client = certificates.signed(ca, "client", List.of());
        intruder = certificates.signed(certificates.authority("other-ca"), "intruder", List.of());
        Path token = work.resolve("token");
        Files.writeString(token, TOKEN + "\n");
        Files.setPosixFilePermissions(token, PosixFilePermissions.fromString("rw-------"));
        daemon = DaemonProcess.startServing(work, "tls", "-Dkelpie.api.tcp.enabled=true", "-Dkelpie.api.tcp.host=0.0.0.0",
                "-Dkelpie.api.tcp.port=" + port, "-Dkelpie.api.tcp.metrics-port=" + metricsPort,
                "-Dkelpie.api.tls.cert=" + server.cert(),
                "-Dkelpie.api.tls.key=" + server.key(), "-Dkelpie.api.tls.client-ca=" + ca.cert(),
                "-Dkelpie.api.token-file=" + token);
    }

    @AfterAll
    static void stopDaemon() throws InterruptedException {
        if (daemon != null) {
            daemon.close();
        }
    }

    @Test
    void aClientWithoutCredentialsIsUnauthenticated() throws Exception {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> info(tls(null), b -> b));
        assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode(), e.toString());
        assertTrue(e.getStatus().getDescription().contains("client certificate"), e.toString());
    }

    @Test
    void aClientCertificateFromTheConfiguredCaAuthenticates() throws Exception {
        assertEquals("linux", info(tls(client), b -> b));
    }

    @Test
    void aClientCertificateFromAnotherCaIsRefused() throws Exception {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> info(tls(intruder), b -> b));
        assertNotEquals(Status.Code.OK, e.getStatus().getCode());
    }

    @Test
    void theBearerTokenAuthenticatesOverTlsAndAWrongOneDoesNot() throws Exception {
        assertEquals("linux", info(tls(null), withToken(TOKEN)));
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> info(tls(null), withToken("guess")));
        assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode(), e.toString());
    }

    @Test
    void aTokenOverPlaintextIsRefused() {
        ManagedChannel plaintext = NettyChannelBuilder.forAddress(address, port).usePlaintext().build();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> info(plaintext, withToken(TOKEN)));
        assertNotEquals(Status.Code.OK, e.getStatus().getCode());
    }

    @Test
    void metricsOverTcpNeedTheSameCredentials() throws Exception {
        assertEquals("401", metrics(List.of()), "no credentials");
        assertEquals("401", metrics(List.of("-H", "Authorization: Bearer guess")), "a wrong token");
        assertEquals("200", metrics(List.of("-H", "Authorization: Bearer " + TOKEN)), "the token");
        assertEquals("200", metrics(List.of("--cert", client.cert().toString(), "--key", client.key().toString())),
                "a client certificate from the CA");
    }

    /** The HTTP status of GET /q/metrics over TLS with these extra curl arguments. */
    private static String metrics(List<String> credentials) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                "--max-time", "30", "--cacert", ca.cert().toString()));
        command.addAll(credentials);
        command.add("https://" + address + ":" + metricsPort + "/q/metrics");
        Process curl = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(curl.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(0, curl.waitFor(), out);
        return out.strip();
    }

    @Test
    void theUnixSocketIsStillServedWithMode0660() throws IOException {
        assertEquals("rw-rw----", PosixFilePermissions.toString(Files.getPosixFilePermissions(daemon.socket)));
        assertTrue(daemon.client().call("kelpie.v1.Host/Info", "{}").stdout().contains("linux"));
    }

    @Test
    void aDaemonThatWouldServePlaintextOffLoopbackRefusesToStart() throws Exception {
        Path dir = Files.createDirectories(work.resolve("plaintext"));
        DaemonProcess refused = DaemonProcess.start(dir.resolve("state"), dir.resolve("kelpied.sock"),
                dir.resolve("daemon.log"), "-Dkelpie.api.tcp.enabled=true", "-Dkelpie.api.tcp.host=0.0.0.0",
                "-Dkelpie.api.tcp.port=" + freePort());
        try {
            assertNotEquals(0, refused.awaitExit(Duration.ofSeconds(60)));
            assertTrue(refused.logText().contains("is off loopback: plaintext TCP is served on loopback only"),
                    refused.logText());
        } finally {
            refused.close();
        }
    }

    @Test
    void loopbackTcpNeedsTheTokenAndADaemonWithoutOneRefusesToStart() throws Exception {
        Path dir = Files.createDirectories(work.resolve("loopback"));
        Path shortToken = Files.writeString(dir.resolve("short-token"), "too-short\n");
        for (String[] args : List.of(new String[0], new String[] {"-Dkelpie.api.token-file=" + shortToken})) {
            List<String> all = new java.util.ArrayList<>(List.of("-Dkelpie.api.tcp.enabled=true",
                    "-Dkelpie.api.tcp.host=127.0.0.1", "-Dkelpie.api.tcp.port=" + freePort(),
                    "-Dkelpie.api.tcp.metrics-port=" + freePort()));
            all.addAll(List.of(args));
            DaemonProcess refused = DaemonProcess.start(dir.resolve("state"), dir.resolve("kelpied.sock"),
                    dir.resolve("refused.log"), all.toArray(String[]::new));
            try {
                assertNotEquals(0, refused.awaitExit(Duration.ofSeconds(60)));
                assertTrue(refused.logText().contains(args.length == 0 ? "plaintext TCP on loopback needs"
                        + " kelpie.api.token-file" : "holds a token of 9 bytes; a token needs at least 32"),
                        refused.logText());
            } finally {
                refused.close();
            }
        }

        Path token = Files.writeString(dir.resolve("token"), TOKEN + "\n");
        int loopbackPort = freePort();
        try (DaemonProcess loopback = DaemonProcess.startServing(work, "loopback-token", "-Dkelpie.api.tcp.enabled=true",
                "-Dkelpie.api.tcp.host=127.0.0.1", "-Dkelpie.api.tcp.port=" + loopbackPort,
                "-Dkelpie.api.tcp.metrics-port=" + freePort(), "-Dkelpie.api.token-file=" + token)) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> info(NettyChannelBuilder.forAddress("127.0.0.1", loopbackPort).usePlaintext().build(), b -> b));
            assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode(), e.toString());
            assertTrue(e.getStatus().getDescription().contains("loopback TCP needs the bearer token"), e.toString());
            assertEquals("linux", info(NettyChannelBuilder.forAddress("127.0.0.1", loopbackPort).usePlaintext().build(),
                    withToken(TOKEN)));
        }
    }

    /** Calls Host.Info and returns the host OS it reports. */
    private static String info(ManagedChannel channel, UnaryOperator<HostGrpc.HostBlockingStub> decorate) {
        try {
            return decorate.apply(HostGrpc.newBlockingStub(channel).withDeadlineAfter(CALL_DEADLINE_SECONDS,
                    TimeUnit.SECONDS)).info(HostInfoRequest.getDefaultInstance()).getHostOs();
        } finally {
            channel.shutdownNow();
        }
    }

    private static UnaryOperator<HostGrpc.HostBlockingStub> withToken(String token) {
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
        return stub -> stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
    }

    private static ManagedChannel tls(TestCertificates.KeyPair clientCertificate) throws IOException {
        SslContextBuilder ssl = GrpcSslContexts.forClient().trustManager(ca.cert().toFile());
        if (clientCertificate != null) {
            ssl.keyManager(clientCertificate.cert().toFile(), clientCertificate.key().toFile());
        }
        return NettyChannelBuilder.forAddress(address, port).sslContext(ssl.build()).build();
    }

    private static Optional<String> nonLoopbackAddress() throws IOException {
        for (NetworkInterface nic : NetworkInterface.networkInterfaces().toList()) {
            if (!nic.isUp() || nic.isLoopback()) {
                continue;
            }
            for (InetAddress a : nic.inetAddresses().toList()) {
                if (a instanceof Inet4Address && !a.isLoopbackAddress() && !a.isLinkLocalAddress()) {
                    return Optional.of(a.getHostAddress());
                }
            }
        }
        return Optional.empty();
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
