package dev.kelpie.daemon.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The proxy on a real Unix socket, with a real upstream HTTP server, spoken to as a guest's tool would. */
@org.junit.jupiter.api.Timeout(30)
class EgressProxyTest {

    @TempDir
    static Path dir;
    static Vertx vertx;
    static HttpServer allowed;
    static HttpServer other;
    static final Map<String, String> SEEN = new ConcurrentHashMap<>();

    @BeforeAll
    static void start() throws IOException {
        vertx = Vertx.vertx(new VertxOptions().setPreferNativeTransport(true));
        allowed = serve("allowed");
        other = serve("other");
    }

    @AfterAll
    static void stop() throws Exception {
        allowed.stop(0);
        other.stop(0);
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    private static HttpServer serve(String body) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", exchange -> {
            SEEN.put(body + " uri", exchange.getRequestURI().toString());
            SEEN.put(body + " host", String.valueOf(exchange.getRequestHeaders().getFirst("Host")));
            SEEN.put(body + " x-hop", String.valueOf(exchange.getRequestHeaders().getFirst("X-Hop")));
            SEEN.put(body + " proxy-authorization",
                    String.valueOf(exchange.getRequestHeaders().getFirst("Proxy-Authorization")));
            byte[] bytes = (body + "\n").getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, bytes.length);
            exchange.getResponseBody().write(bytes);
            exchange.close();
        });
        server.start();
        return server;
    }

    private static AutoCloseable open(Path socket) throws IOException {
        return open(socket, new EgressTraffic());
    }

    private static AutoCloseable open(Path socket, EgressTraffic traffic) throws IOException {
        return new EgressProxy(vertx).open("sb1", socket,
                EgressAllowlist.parse(List.of("127.0.0.1:" + allowed.getAddress().getPort(), "127.0.0.1:1")), traffic);
    }

    /** Sends {@code request} and reads one response: its head and as many body bytes as Content-Length says. */
    private static String exchange(Path socket, String request) throws IOException {
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(socket));
            channel.write(ByteBuffer.wrap(request.getBytes(StandardCharsets.ISO_8859_1)));
            String head = readHead(channel);
            var length = java.util.regex.Pattern.compile("(?im)^content-length:\\s*(\\d+)").matcher(head);
            ByteBuffer body = ByteBuffer.allocate(length.find() ? Integer.parseInt(length.group(1)) : 0);
            while (body.hasRemaining() && channel.read(body) >= 0) {
                // until the whole body is in
            }
            return head + new String(body.array(), 0, body.position(), StandardCharsets.ISO_8859_1);
        }
    }

    private static String readAll(SocketChannel channel) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteBuffer buffer = ByteBuffer.allocate(8192);
        while (channel.read(buffer) >= 0) {
            out.write(buffer.array(), 0, buffer.position());
            buffer.clear();
        }
        return out.toString(StandardCharsets.ISO_8859_1);
    }

    @Test
    void aTunnelToAnAllowedDestinationCarriesBytesBothWays() throws Exception {
        Path socket = dir.resolve("tunnel.sock");
        EgressTraffic traffic = new EgressTraffic();
        try (AutoCloseable proxy = open(socket, traffic)) {
            int port = allowed.getAddress().getPort();
            try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                channel.connect(UnixDomainSocketAddress.of(socket));
                channel.write(ByteBuffer.wrap(("CONNECT 127.0.0.1:" + port + " HTTP/1.1\r\nHost: 127.0.0.1:" + port
                        + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1)));
                String established = readHead(channel);
                assertTrue(established.startsWith("HTTP/1.1 200"), established);
                String through = "GET /through HTTP/1.0\r\nHost: x\r\n\r\n";
                channel.write(ByteBuffer.wrap(through.getBytes(StandardCharsets.ISO_8859_1)));
                String answer = readAll(channel);
                assertTrue(answer.startsWith("HTTP/1.1 200") && answer.endsWith("\r\n\r\nallowed\n"), answer);
                assertEquals("/through", SEEN.get("allowed uri"));
                // The tunnel's payload is counted both ways; the CONNECT exchange is not.
                EgressTraffic.Snapshot counted = traffic.snapshot();
                assertEquals(through.length(), counted.bytesOut());
                assertEquals(answer.length(), counted.bytesIn());
                assertEquals(1, counted.totalConnections());
            }
        }
    }

    /** Reads up to the end of a response head, byte by byte so nothing of the tunnel is consumed. */
    private static String readHead(SocketChannel channel) throws IOException {
        StringBuilder head = new StringBuilder();
        ByteBuffer one = ByteBuffer.allocate(1);
        while (!head.toString().endsWith("\r\n\r\n")) {
            one.clear();
            if (channel.read(one) < 0) {
                break;
            }
            head.append((char) one.get(0));
        }
        return head.toString();
    }

    @Test
    void aPlainHttpRequestIsForwardedWithItsHostAndWithoutProxyHeaders() throws Exception {
        Path socket = dir.resolve("forward.sock");
        EgressTraffic traffic = new EgressTraffic();
        try (AutoCloseable proxy = open(socket, traffic)) {
            int port = allowed.getAddress().getPort();
            // The Host header claims another name: the upstream must see the one that was checked.
            String answer = exchange(socket, "GET http://127.0.0.1:" + port + "/a/b?c=d HTTP/1.1\r\nHost: elsewhere.example"
                    + "\r\nProxy-Authorization: Basic c2VjcmV0\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n\r\n");
            assertTrue(answer.startsWith("HTTP/1.1 200") && answer.endsWith("allowed\n"), answer);
            assertEquals("/a/b?c=d", SEEN.get("allowed uri"));
            assertEquals("127.0.0.1:" + port, SEEN.get("allowed host"));
            assertEquals("null", SEEN.get("allowed proxy-authorization"));
            assertEquals("null", SEEN.get("allowed x-hop"), "a header Connection names is for this hop only");
            assertEquals("allowed\n".length(), traffic.snapshot().bytesIn(), "the response body is counted in");
            assertEquals(0, traffic.snapshot().bytesOut(), "a GET sends no body");
        }
    }

    @Test
    void destinationsOutsideTheAllowlistAreRefusedWithTheReason() throws Exception {
        Path socket = dir.resolve("refuse.sock");
        try (AutoCloseable proxy = open(socket)) {
            int port = other.getAddress().getPort();
            for (String request : List.of("CONNECT 127.0.0.1:" + port + " HTTP/1.1\r\nHost: x\r\n\r\n",
                    "GET http://127.0.0.1:" + port + "/ HTTP/1.1\r\nHost: x\r\n\r\n",
                    "CONNECT localhost:" + port + " HTTP/1.1\r\nHost: x\r\n\r\n")) {
                String answer = exchange(socket, request);
                assertTrue(answer.startsWith("HTTP/1.1 403"), answer);
                assertTrue(answer.contains("kelpie: ") && answer.contains("allowlist"), answer);
            }
            assertFalse(SEEN.containsKey("other uri"), "the other server was never reached");
        }
    }

    @Test
    void theDaemonsOwnPortsAreRefusedEvenWhenThePolicyNamesThem() throws Exception {
        Path socket = dir.resolve("own.sock");
        int daemonPort = allowed.getAddress().getPort(); // stands for the API's TCP port: a listener that answers
        try (AutoCloseable proxy = new EgressProxy(vertx, () -> java.util.Set.of(daemonPort)).open("sb1", socket,
                EgressAllowlist.parse(List.of("127.0.0.1:" + daemonPort, "127.0.0.1")), new EgressTraffic())) {
            for (String request : List.of("CONNECT 127.0.0.1:" + daemonPort + " HTTP/1.1\r\nHost: x\r\n\r\n",
                    "GET http://127.0.0.1:" + daemonPort + "/ HTTP/1.1\r\nHost: x\r\n\r\n")) {
                String answer = exchange(socket, request);
                assertTrue(answer.startsWith("HTTP/1.1 403") && answer.contains("the daemon's own listener"), answer);
            }
            assertFalse(SEEN.containsKey("allowed uri"), "the daemon's port was never reached");
        }
    }

    @Test
    void requestsThatAreNotProxyRequestsOrCannotConnectSayWhy() throws Exception {
        Path socket = dir.resolve("bad.sock");
        try (AutoCloseable proxy = open(socket)) {
            String origin = exchange(socket, "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
            assertTrue(origin.startsWith("HTTP/1.1 400") && origin.contains("egress proxy"), origin);
            String noPort = exchange(socket, "CONNECT example.com HTTP/1.1\r\nHost: x\r\n\r\n");
            assertTrue(noPort.startsWith("HTTP/1.1 400") && noPort.contains("host:port"), noPort);
            // Allowed, but nothing listens there.
            String closed = exchange(socket, "CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: x\r\n\r\n");
            assertTrue(closed.startsWith("HTTP/1.1 502") && closed.contains("connecting to 127.0.0.1:1 failed"), closed);
        }
    }

    @Test
    void closingStopsServingAndRemovesTheSocket() throws Exception {
        Path socket = dir.resolve("closed.sock");
        Files.writeString(socket, "a stale file from a dead daemon");
        AutoCloseable proxy = open(socket);
        assertTrue(exchange(socket, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").startsWith("HTTP/1.1 400"));
        proxy.close();
        assertFalse(Files.exists(socket));
        assertThrows(IOException.class, () -> exchange(socket, "GET / HTTP/1.1\r\n\r\n"));
    }
}
