package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.kelpie.api.v1.HostGrpc;
import dev.kelpie.api.v1.HostInfoRequest;
import dev.kelpie.api.v1.NetworkMode;
import dev.kelpie.api.v1.NetworkPolicy;
import dev.kelpie.api.v1.PackageSummary;
import dev.kelpie.api.v1.PortForward;
import dev.kelpie.api.v1.RestoreRequest;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SnapshotKind;
import dev.kelpie.api.v1.SnapshotRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.AfterParameterizedClassInvocation;
import org.junit.jupiter.params.BeforeParameterizedClassInvocation;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Guest networking end to end on real TCG VMs: a packaged daemon (with its API also on TCP, TLS), two HTTP servers on
 * this host — one a sandbox's allowlist names, one it does not — and busybox's wget, nc and httpd in the guests.
 *
 * <p>Every case runs on both backends, each with its own daemon started once per backend: QEMU (slirp's guestfwd and
 * hostfwd) and libkrun (the agent's vsock relays, ADR 0022 addendum), whose C double realises the vsock mappings under
 * QEMU with a restricted user-mode network as the transport's stand-in; the relays, the runner's mappings, the
 * daemon's proxy, allowlist and loopback listeners are the real code.
 */
@ParameterizedClass(name = "{0}")
@EnumSource(NetworkIT.Backend.class)
class NetworkIT {

    /** The backend a daemon of this class runs its sandboxes on, and what it takes to start one. */
    enum Backend {
        QEMU("qemu"),
        LIBKRUN_DOUBLE("libkrun");

        /** The name {@code Host.Info} and {@code Sandbox.backend} give it. */
        final String reported;

        Backend(String reported) {
            this.reported = reported;
        }

        /** The daemon's extra arguments and environment for this backend, building what it needs under {@code dir}. */
        DaemonArgs daemonArgs(Path dir) throws IOException, InterruptedException {
            if (this == QEMU) {
                return new DaemonArgs(List.of(), Map.of());
            }
            Path library = dev.kelpie.runner.KrunDouble.build(dir.resolve("krun-double"),
                    dev.kelpie.runner.KrunDouble.Variant.FULL);
            Path record = Files.createDirectories(dir.resolve("krun-record"));
            return new DaemonArgs(List.of("--backend=libkrun", "-Dkelpie.libkrun.library=" + library,
                    "-Dkelpie.sandboxes.stop-grace=2s"), Map.of(dev.kelpie.runner.KrunDouble.RECORD_DIR_ENV,
                    record.toString()));
        }
    }

    record DaemonArgs(List<String> args, Map<String, String> env) {}

    private static final Duration PORT_OPEN_TIMEOUT = Duration.ofSeconds(60);
    private static final int GUEST_HTTP_PORT = 8000;
    private static final String NO_PROXY_BYPASS = "no_proxy= NO_PROXY= ";

    @TempDir
    static Path work;
    @Parameter
    Backend backend;
    static Path backendDir;
    static DaemonProcess daemon;
    static SandboxClient client;
    static HttpServer allowedServer;
    static HttpServer otherServer;
    static int apiPort;
    static int metricsPort;

    @BeforeAll
    static void serveOnTheHost() throws Exception {
        Assumptions.assumeFalse(System.getProperty("kelpie.it.imageDir", "").isBlank(),
                "no image given (-Dkelpie.imageDir=...; scripts/dev passes it)");
        allowedServer = serve("allowed-server");
        otherServer = serve("other-server");
    }

    @BeforeParameterizedClassInvocation
    static void start(Backend backend) throws Exception {
        backendDir = Files.createDirectories(work.resolve(backend.reported));
        apiPort = freePort();
        metricsPort = freePort();
        TestCertificates certificates = new TestCertificates(Files.createDirectories(backendDir.resolve("pki")));
        TestCertificates.KeyPair ca = certificates.authority("kelpie-test-ca");
        TestCertificates.KeyPair server = certificates.signed(ca, "kelpied", List.of("127.0.0.1"));
        Path token = backendDir.resolve("token");
        Files.writeString(token, "network-it-token-0123456789abcdef0123\n");
        Files.setPosixFilePermissions(token, PosixFilePermissions.fromString("rw-------"));
        DaemonArgs backendArgs = backend.daemonArgs(backendDir);
        List<String> args = new java.util.ArrayList<>(List.of(SandboxesIT.daemonArgs(
                System.getProperty("kelpie.it.imageDir"))));
        args.addAll(List.of("-Dkelpie.api.tcp.enabled=true", "-Dkelpie.api.tcp.host=127.0.0.1",
                "-Dkelpie.api.tcp.port=" + apiPort, "-Dkelpie.api.tcp.metrics-port=" + metricsPort,
                "-Dkelpie.api.tls.cert=" + server.cert(),
                "-Dkelpie.api.tls.key=" + server.key(), "-Dkelpie.api.tls.client-ca=" + ca.cert(),
                "-Dkelpie.api.token-file=" + token));
        args.addAll(backendArgs.args());
        daemon = DaemonProcess.start(backendDir.resolve("state"), backendDir.resolve("kelpied.sock"),
                backendDir.resolve("daemon.log"), backendArgs.env(), args.toArray(String[]::new));
        daemon.awaitServing();
        client = new SandboxClient(daemon.socket);
        Probes.awaitBackend(daemon, backend.reported);
    }

    @AfterEach
    void deleteSandboxes() {
        if (client != null) {
            client.deleteAll();
        }
    }

    @AfterParameterizedClassInvocation
    static void stop() throws Exception {
        if (client != null) {
            client.close();
            client = null;
        }
        if (daemon != null) {
            daemon.close();
            daemon = null;
        }
        // VMs (and libkrun's runners) outlive daemons by design: a failed case must not leave them behind.
        if (backendDir != null) {
            Leftovers.killProcessesNaming(backendDir);
        }
    }

    @AfterAll
    static void stopServing() {
        for (HttpServer s : new HttpServer[] {allowedServer, otherServer}) {
            if (s != null) {
                s.stop(0);
            }
        }
    }

    @Test
    void noneGivesTheGuestAWorkingLoopbackAndNothingElse() throws Exception {
        Sandbox s = client.create(SandboxSpec.getDefaultInstance());
        String id = s.getId();
        assertEquals("", networkDevices(id));
        assertEquals("lo\n", interfacesUp(id));
        assertEquals("from-loopback\n", client.sh(id, "mkdir -p /tmp/www && echo from-loopback > /tmp/www/index.html"
                + " && httpd -p 127.0.0.1:8000 -h /tmp/www && wget -q -O- http://127.0.0.1:8000/index.html"));
        assertEquals("[]\n", client.sh(id, "echo \"[$http_proxy]\""));
        assertEquals(NetworkMode.NETWORK_MODE_NONE, client.get(id).getSpec().getNetwork().getMode());
        assertTrue(client.get(id).getNetworkReachability().contains("loopback only"),
                client.get(id).getNetworkReachability());
    }

    @Test
    void egressReachesTheAllowedHostServerAndNotAnotherHostServiceAnotherSandboxOrTheDaemonApi() throws Exception {
        int allowed = allowedServer.getAddress().getPort();
        int other = otherServer.getAddress().getPort();
        Sandbox published = client.create(SandboxSpec.newBuilder().setNetwork(NetworkPolicy.newBuilder()
                .addPortForwards(PortForward.newBuilder().setGuestPort(GUEST_HTTP_PORT))).build());
        int otherSandboxPort = published.getPortForwards(0).getHostPort();
        serveInGuest(published.getId(), "other-sandbox");
        awaitHttp(otherSandboxPort, "other-sandbox");

        Sandbox s = client.create(egress("127.0.0.1:" + allowed));
        String id = s.getId();
        assertEquals(backend.reported, s.getBackend());
        // On QEMU eth0 is slirp's NIC; under the libkrun double it is the restricted stand-in that carries vsock
        // (kelpie.vsock.tcp), with the same address. Real libkrun has no NIC at all.
        assertEquals("eth0\n", networkDevices(id));
        assertEquals("eth0\nlo\n", interfacesUp(id));
        assertEquals("10.0.2.15\n", client.sh(id, "ip -4 -o addr show dev eth0 | sed 's/.*inet \\([0-9.]*\\)\\/.*/\\1/'"));
        // The same proxy URL on both backends, so a checkpoint moves between them with nothing in the guest to change:
        // slirp's guestfwd answers it on QEMU (no interface holds the address), the agent's relay on lo on libkrun.
        assertEquals("http://10.0.2.100:3128\n", client.sh(id, "echo $http_proxy"));
        assertEquals(backend == Backend.LIBKRUN_DOUBLE, client.sh(id, "ip -4 -o addr show dev lo").contains(
                "inet 10.0.2.100/"), "the relay's address on lo");
        assertEquals("allowed-server\n", client.sh(id, NO_PROXY_BYPASS + "wget -q -O- http://127.0.0.1:" + allowed + "/"));
        String tunnel = connectStatusLine(id, allowed);
        assertTrue(tunnel.startsWith("HTTP/1.1 200"), "CONNECT to the allowed server: " + tunnel);

        for (int refused : new int[] {other, otherSandboxPort, apiPort}) {
            String out = client.sh(id, NO_PROXY_BYPASS + "wget -q -O- http://127.0.0.1:" + refused + "/ 2>&1;"
                    + " echo exit=$?");
            assertTrue(out.contains("403") && out.endsWith("exit=1\n"), "port " + refused + ": " + out);
            String connect = connectStatusLine(id, refused);
            assertTrue(connect.startsWith("HTTP/1.1 403"), "CONNECT to port " + refused + ": " + connect);
        }
        // No path around the proxy: the VMM's own address, the allowed server directly, its DNS forwarder.
        assertExit1(id, "nc -w 3 10.0.2.2 " + allowed + " </dev/null; echo exit=$?");
        String dns = client.sh(id, "timeout 10 nslookup example.com 10.0.2.3 >/dev/null 2>&1; echo exit=$?");
        assertTrue(dns.matches("exit=[1-9][0-9]*\n"), dns);

        Sandbox got = client.get(id);
        assertEquals(List.of("127.0.0.1:" + allowed), got.getSpec().getNetwork().getAllowList());
        assertTrue(got.getNetworkReachability().contains("127.0.0.1:" + allowed + " only"), got.getNetworkReachability());
        var info = HostGrpc.newBlockingStub(client.channel).info(HostInfoRequest.getDefaultInstance());
        assertTrue(info.getNetwork().getEgress() && info.getNetwork().getPortForwards(), info.getNetwork().toString());
    }

    @Test
    void noPolicyReachesTheDaemonsOwnListeners() throws Exception {
        // The widest policy an API caller may give for the host: the exact loopback IPs and ports of the API and its
        // metrics, and the name localhost. The proxy still refuses the daemon's own ports, by every path.
        Sandbox s = client.create(egress("127.0.0.1:" + apiPort, "127.0.0.1:" + metricsPort, "127.0.0.1", "localhost"));
        for (int own : new int[] {apiPort, metricsPort}) {
            String out = client.sh(s.getId(), NO_PROXY_BYPASS + "wget -q -O- http://127.0.0.1:" + own + "/ 2>&1;"
                    + " echo exit=$?");
            assertTrue(out.contains("403") && out.endsWith("exit=1\n"), "port " + own + ": " + out);
            String connect = connectStatusLine(s.getId(), own);
            assertTrue(connect.startsWith("HTTP/1.1 403"), "CONNECT to port " + own + ": " + connect);
        }
        assertTrue(client.sh(s.getId(), NO_PROXY_BYPASS + "wget -q -O- http://localhost:" + apiPort + "/ 2>&1;"
                + " echo exit=$?").contains("403"), "by name too");
        // Another loopback port of the same policy still works: only the daemon's own are held back.
        int allowed = allowedServer.getAddress().getPort();
        assertEquals("allowed-server\n", client.sh(s.getId(), NO_PROXY_BYPASS + "wget -q -O- http://127.0.0.1:"
                + allowed + "/"));
    }

    @Test
    void aPortForwardReachesTheGuestServerFromHostLoopbackOnly() throws Exception {
        int requested = freePort();
        Sandbox s = client.create(SandboxSpec.newBuilder().setNetwork(NetworkPolicy.newBuilder()
                .addPortForwards(PortForward.newBuilder().setHostPort(requested).setGuestPort(GUEST_HTTP_PORT))).build());
        assertEquals(List.of(PortForward.newBuilder().setHostPort(requested).setGuestPort(GUEST_HTTP_PORT).build()),
                s.getPortForwardsList());
        serveInGuest(s.getId(), "from-guest");
        awaitHttp(requested, "from-guest");
        // Published on loopback only: the host's other addresses refuse the port.
        for (String address : nonLoopbackIpv4Addresses()) {
            assertThrows(ConnectException.class, () -> new Socket().connect(new InetSocketAddress(address, requested),
                    5_000), address);
        }
        // The guest has no egress: a forward is a way in, never a way out.
        assertExit1(s.getId(), "nc -w 3 10.0.2.2 " + allowedServer.getAddress().getPort() + " </dev/null; echo exit=$?");

        int taken = allowedServer.getAddress().getPort();
        int before = client.list().size();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> client.create(SandboxSpec.newBuilder()
                .setNetwork(NetworkPolicy.newBuilder().addPortForwards(PortForward.newBuilder().setHostPort(taken)
                        .setGuestPort(80))).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("127.0.0.1:" + taken), e.getStatus().getDescription());
        assertEquals(before, client.list().size(), "nothing created");
        assertEquals(java.util.Set.of(s.getId()), Leftovers.childNames(daemon.stateDir.resolve("vms")),
                "no runtime directory is left of the refused create");

        // Deleting the sandbox closes its published port, and nothing that served it outlives the delete.
        Path vm = daemon.stateDir.resolve("vms").resolve(s.getId());
        client.sandboxes().delete(dev.kelpie.api.v1.DeleteSandboxRequest.newBuilder().setId(s.getId()).build());
        Await.until("no VM, runner or relay of the sandbox to outlive its delete", PORT_OPEN_TIMEOUT,
                () -> Leftovers.processesNaming(vm, java.util.Set.of(daemon.process.pid())).isEmpty());
        Await.until("127.0.0.1:" + requested + " to close with the sandbox", PORT_OPEN_TIMEOUT, () -> {
            try (Socket probe = new Socket("127.0.0.1", requested)) {
                return false;
            } catch (IOException closed) {
                return true;
            }
        });
    }

    @Test
    void aBadPolicyIsRefusedBeforeAnythingBoots() {
        for (NetworkPolicy bad : List.of(
                NetworkPolicy.newBuilder().setMode(NetworkMode.NETWORK_MODE_EGRESS).addAllow("not a host!").build(),
                NetworkPolicy.newBuilder().addAllow("pypi.org").build(),
                NetworkPolicy.newBuilder().addPortForwards(PortForward.newBuilder().setGuestPort(0)).build())) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> client.create(SandboxSpec.newBuilder().setNetwork(bad).build()));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), bad.toString());
            assertTrue(e.getStatus().getDescription().startsWith("spec.network: "), e.getStatus().getDescription());
        }
        assertEquals(0, client.list().size());
    }

    @Test
    void policiesSurviveAVmSnapshot() throws Exception {
        Assumptions.assumeTrue(backend == Backend.QEMU, "libkrun takes no vm snapshots (ADR 0021): a"
                + " checkpoint is the way across, which aCheckpointRestoreAppliesThePoliciesAgain covers on both backends");
        int allowed = allowedServer.getAddress().getPort();
        int other = otherServer.getAddress().getPort();
        Sandbox source = client.create(egressAndAForward(allowed));
        serveInGuest(source.getId(), "served-before-the-snapshot");
        PackageSummary vm = snapshot(source.getId(), SnapshotKind.SNAPSHOT_KIND_VM);
        client.sandboxes().delete(dev.kelpie.api.v1.DeleteSandboxRequest.newBuilder().setId(source.getId()).build());

        // A vm package's VM keeps its network device: an override without one is refused before anything starts.
        StatusRuntimeException noDevice = assertThrows(StatusRuntimeException.class, () -> client.sandboxes().restore(
                RestoreRequest.newBuilder().setPackageId(vm.getId()).setSpecOverrides(SandboxSpec.newBuilder()
                        .setNetwork(NetworkPolicy.newBuilder().setMode(NetworkMode.NETWORK_MODE_NONE))).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, noDevice.getStatus().getCode(), noDevice.toString());
        // A package never chooses its own network: its NIC needs the caller's word...
        StatusRuntimeException unaccepted = assertThrows(StatusRuntimeException.class, () -> client.sandboxes()
                .restore(RestoreRequest.newBuilder().setPackageId(vm.getId()).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, unaccepted.getStatus().getCode(), unaccepted.toString());
        assertTrue(unaccepted.getStatus().getDescription().contains("accept_packaged_network"), unaccepted.toString());
        // ...and even accepted, a package's allowlist never opens the host's loopback.
        StatusRuntimeException loopback = assertThrows(StatusRuntimeException.class, () -> client.sandboxes()
                .restore(RestoreRequest.newBuilder().setPackageId(vm.getId()).setAcceptPackagedNetwork(true).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, loopback.getStatus().getCode(), loopback.toString());
        assertTrue(loopback.getStatus().getDescription().contains("127.0.0.1 (a loopback address)"), loopback.toString());
        assertEquals(0, client.list().size());

        // The caller's own policy may name the host's loopback.
        var resumedResponse = client.sandboxes().restore(RestoreRequest.newBuilder().setPackageId(vm.getId())
                .setSpecOverrides(SandboxSpec.newBuilder().setNetwork(source.getSpec().getNetwork())).build());
        assertEquals(List.of(), resumedResponse.getWarningsList());
        Sandbox resumed = resumedResponse.getSandbox();
        assertEquals(source.getSpec().getNetwork(), resumed.getSpec().getNetwork());
        assertEquals(GUEST_HTTP_PORT, resumed.getPortForwards(0).getGuestPort());
        // The guest's server kept running through the snapshot; the new VM publishes it again on a port picked anew.
        awaitHttp(resumed.getPortForwards(0).getHostPort(), "served-before-the-snapshot");
        assertAllowlistHolds(resumed.getId(), allowed, other);
    }

    @Test
    void aCheckpointRestoreAppliesThePoliciesAgain() throws Exception {
        int allowed = allowedServer.getAddress().getPort();
        int other = otherServer.getAddress().getPort();
        Sandbox source = client.create(egressAndAForward(allowed));
        PackageSummary checkpoint = snapshot(source.getId(), SnapshotKind.SNAPSHOT_KIND_CHECKPOINT);
        client.sandboxes().delete(dev.kelpie.api.v1.DeleteSandboxRequest.newBuilder().setId(source.getId()).build());

        // A checkpoint restored without the caller's policy has no network at all, and says what it did not apply.
        var bare = client.sandboxes().restore(RestoreRequest.newBuilder().setPackageId(checkpoint.getId()).build());
        assertEquals(NetworkMode.NETWORK_MODE_NONE, bare.getSandbox().getSpec().getNetwork().getMode());
        assertTrue(bare.getWarningsList().stream().anyMatch(w -> w.contains("not applied")), bare.getWarningsList()
                .toString());
        assertEquals("lo\n", interfacesUp(bare.getSandbox().getId()));
        assertEquals("[]\n", client.sh(bare.getSandbox().getId(), "echo \"[$http_proxy]\""));
        client.sandboxes().delete(dev.kelpie.api.v1.DeleteSandboxRequest.newBuilder().setId(bare.getSandbox().getId())
                .build());

        Sandbox rebooted = client.sandboxes().restore(RestoreRequest.newBuilder().setPackageId(checkpoint.getId())
                .setSpecOverrides(SandboxSpec.newBuilder().setNetwork(source.getSpec().getNetwork())).build())
                .getSandbox();
        assertEquals(source.getSpec().getNetwork(), rebooted.getSpec().getNetwork());
        assertEquals("eth0\nlo\n", interfacesUp(rebooted.getId()));
        assertAllowlistHolds(rebooted.getId(), allowed, other);
        serveInGuest(rebooted.getId(), "served-after-the-checkpoint");
        awaitHttp(rebooted.getPortForwards(0).getHostPort(), "served-after-the-checkpoint");
    }

    /** The guest reaches the {@code allowed} host server through the proxy, and the {@code other} is refused. */
    private static void assertAllowlistHolds(String sandboxId, int allowed, int other) throws Exception {
        assertEquals("allowed-server\n", client.sh(sandboxId, NO_PROXY_BYPASS + "wget -q -O- http://127.0.0.1:"
                + allowed + "/"));
        assertTrue(client.sh(sandboxId, NO_PROXY_BYPASS + "wget -q -O- http://127.0.0.1:" + other
                + "/ 2>&1; echo exit=$?").contains("403"));
    }

    private static SandboxSpec egressAndAForward(int allowedPort) {
        return egress("127.0.0.1:" + allowedPort).toBuilder().setNetwork(egress("127.0.0.1:" + allowedPort).getNetwork()
                .toBuilder().addPortForwards(PortForward.newBuilder().setGuestPort(GUEST_HTTP_PORT))).build();
    }

    /** Runs {@code script} (which ends by echoing {@code exit=$?}) and asserts that the command before failed. */
    private static void assertExit1(String sandboxId, String script) throws Exception {
        String out = client.sh(sandboxId, script);
        assertTrue(out.endsWith("exit=1\n"), script + " printed: " + out);
    }

    /**
     * Sends {@code CONNECT 127.0.0.1:PORT} to the proxy address with busybox nc and returns the first line of the
     * answer. nc's stdin stays open until the answer is in (or 30 s passed): a client that half-closes at once is not
     * what a tunnel's client does.
     */
    private static String connectStatusLine(String sandboxId, int port) throws Exception {
        return client.sh(sandboxId, "cd /tmp && rm -f c.in c.out && mkfifo c.in && (nc 10.0.2.100 3128 <c.in >c.out &)"
                + " && exec 4>c.in && printf 'CONNECT 127.0.0.1:" + port + " HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' >&4"
                + " && i=0 && while [ ! -s c.out ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done;"
                + " exec 4>&-; head -n 1 c.out");
    }

    /** Interfaces backed by a device (a NIC), one per line. */
    private static String networkDevices(String sandboxId) throws Exception {
        return client.sh(sandboxId, "for i in /sys/class/net/*; do [ -e $i/device ] && basename $i; done; true");
    }

    /** Interfaces that are up (IFF_UP), one per line. A kernel's tunnel fallbacks (sit0) exist but stay down. */
    private static String interfacesUp(String sandboxId) throws Exception {
        return client.sh(sandboxId, "for i in /sys/class/net/*; do [ $(( $(cat $i/flags) & 1 )) = 1 ] && basename $i;"
                + " done; true");
    }

    private static SandboxSpec egress(String... allow) {
        return SandboxSpec.newBuilder().setNetwork(NetworkPolicy.newBuilder().setMode(NetworkMode.NETWORK_MODE_EGRESS)
                .addAllAllow(List.of(allow))).build();
    }

    private static PackageSummary snapshot(String sandboxId, SnapshotKind kind) {
        return client.sandboxes().snapshot(SnapshotRequest.newBuilder().setSandboxId(sandboxId).setKind(kind).build())
                .getPackage();
    }

    /** busybox httpd in the guest on {@link #GUEST_HTTP_PORT}; it is listening once the command returns. */
    private static void serveInGuest(String sandboxId, String body) throws Exception {
        client.sh(sandboxId, "mkdir -p /tmp/www && echo " + body + " > /tmp/www/index.html && httpd -p "
                + GUEST_HTTP_PORT + " -h /tmp/www");
    }

    /** Waits until host loopback's {@code port} serves {@code body}: the VMM forwards as soon as the guest listens. */
    static void awaitHttp(int port, String body) {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        String[] last = {""};
        Await.until("127.0.0.1:" + port + " to serve '" + body + "'", PORT_OPEN_TIMEOUT, () -> {
            try {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                        + "/index.html")).timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
                last[0] = r.statusCode() + " " + r.body();
                return r.statusCode() == 200 && r.body().equals(body + "\n");
            } catch (IOException e) {
                last[0] = e.toString();
                return false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }, () -> "last answer: " + last[0]);
    }

    static HttpServer serve(String body) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", exchange -> {
            byte[] bytes = (body + "\n").getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, bytes.length);
            exchange.getResponseBody().write(bytes);
            exchange.close();
        });
        server.start();
        return server;
    }

    private static int freePort() throws IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static List<String> nonLoopbackIpv4Addresses() throws IOException {
        List<String> out = new java.util.ArrayList<>();
        for (java.net.NetworkInterface nic : java.net.NetworkInterface.networkInterfaces().toList()) {
            if (nic.isUp() && !nic.isLoopback()) {
                nic.inetAddresses().filter(a -> a instanceof java.net.Inet4Address && !a.isLinkLocalAddress())
                        .forEach(a -> out.add(a.getHostAddress()));
            }
        }
        return out;
    }
}
