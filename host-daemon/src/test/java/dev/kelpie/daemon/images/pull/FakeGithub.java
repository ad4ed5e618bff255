package dev.kelpie.daemon.images.pull;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A real HTTP server speaking the part of GitHub's REST API a pull uses — a release by tag, its assets, the redirect
 * to storage with Range support — serving releases from {@code ROOT/VERSION/}, with faults injected per file.
 */
public final class FakeGithub implements AutoCloseable {

    /** What to do instead of (or while) serving a file or a release listing. */
    public record Fault(int status, Map<String, String> headers, long cutAfterBytes, long stallAfterBytes,
            boolean flipLastByte) {

        public static Fault status(int status, Map<String, String> headers) {
            return new Fault(status, headers, -1, -1, false);
        }

        public static Fault cutAfter(long bytes) {
            return new Fault(0, Map.of(), bytes, -1, false);
        }

        public static Fault stallAfter(long bytes) {
            return new Fault(0, Map.of(), -1, bytes, false);
        }

        public static Fault corruptLastByte() {
            return new Fault(0, Map.of(), -1, -1, true);
        }
    }

    /** Makes every release listing carry this many bytes of release notes. */
    public void padReleaseListings(int bytes) {
        releaseNotesBytes = bytes;
    }

    /** A request as the server saw it. */
    public record Request(String path, String range, String authorization) {}

    private static final Pattern RELEASE = Pattern.compile("/repos/([^/]+/[^/]+)/releases/tags/v(.+)");
    private static final Pattern ASSET = Pattern.compile("/repos/([^/]+/[^/]+)/releases/assets/([^/]+)/([^/]+)");
    private static final Pattern STORAGE = Pattern.compile("/storage/([^/]+)/([^/]+)");
    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-");

    private final Path root;
    private final String repository;
    private final HttpServer server;
    /** Asset bytes come from another origin, as GitHub's storage host is, so a leaked token would show. */
    private final HttpServer storage;
    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final Map<String, Fault> faults = new ConcurrentHashMap<>();
    private final List<Request> requests = new CopyOnWriteArrayList<>();
    private final CountDownLatch closed = new CountDownLatch(1);
    private final ObjectMapper json = new ObjectMapper();
    /** Bytes of release notes added to every release listing, to make it as large as a hostile server would. */
    private volatile int releaseNotesBytes;

    private FakeGithub(Path root, String repository) throws IOException {
        this.root = root;
        this.repository = repository;
        this.server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.setExecutor(executor);
        server.createContext("/", this::handle);
        server.start();
        this.storage = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        storage.setExecutor(executor);
        storage.createContext("/", this::handle);
        storage.start();
    }

    /** Serves {@code root/VERSION/FILE} as the assets of release {@code vVERSION} of {@code repository}. */
    public static FakeGithub start(Path root, String repository) throws IOException {
        return new FakeGithub(root, repository);
    }

    public URI apiUrl() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    /** Applies {@code fault} to every request for {@code file} (an asset name, or "release" for the listing). */
    public void fault(String file, Fault fault) {
        faults.put(file, fault);
    }

    public void clearFaults() {
        faults.clear();
    }

    public List<Request> requests() {
        return List.copyOf(requests);
    }

    public void clearRequests() {
        requests.clear();
    }

    /** Requests for the file's bytes (the storage side, after the redirect). */
    public List<Request> downloadsOf(String file) {
        return requests.stream().filter(r -> r.path().startsWith("/storage/") && r.path().endsWith("/" + file)).toList();
    }

    private void handle(HttpExchange exchange) throws IOException {
        String path = exchange.getRequestURI().getPath();
        requests.add(new Request(path, exchange.getRequestHeaders().getFirst("Range"),
                exchange.getRequestHeaders().getFirst("Authorization")));
        try (exchange) {
            Matcher m;
            if ((m = RELEASE.matcher(path)).matches() && m.group(1).equals(repository)) {
                release(exchange, m.group(2));
            } else if ((m = ASSET.matcher(path)).matches() && m.group(1).equals(repository)) {
                exchange.getResponseHeaders().add("Location", "http://127.0.0.1:" + storage.getAddress().getPort()
                        + "/storage/" + m.group(2) + "/" + m.group(3));
                exchange.sendResponseHeaders(302, -1);
            } else if ((m = STORAGE.matcher(path)).matches()) {
                file(exchange, m.group(1), m.group(2));
            } else {
                send(exchange, 404, "{\"message\":\"Not Found\"}");
            }
        }
    }

    private void release(HttpExchange exchange, String version) throws IOException {
        Fault fault = faults.get("release");
        if (fault != null && fault.status() > 0) {
            fault.headers().forEach(exchange.getResponseHeaders()::add);
            send(exchange, fault.status(), "{\"message\":\"injected failure\"}");
            return;
        }
        Path dir = root.resolve(version);
        if (!Files.isDirectory(dir)) {
            send(exchange, 404, "{\"message\":\"Not Found\"}");
            return;
        }
        ObjectNode body = json.createObjectNode().put("tag_name", "v" + version);
        if (releaseNotesBytes > 0) {
            body.put("body", "x".repeat(releaseNotesBytes));
        }
        var assets = body.putArray("assets");
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.sorted().toList()) {
                String name = f.getFileName().toString();
                assets.addObject().put("name", name).put("size", Files.size(f))
                        .put("url", apiUrl() + "/repos/" + repository + "/releases/assets/" + version + "/" + name);
            }
        }
        send(exchange, 200, json.writeValueAsString(body));
    }

    private void file(HttpExchange exchange, String version, String name) throws IOException {
        Path file = root.resolve(version).resolve(name);
        Fault fault = faults.get(name);
        if (fault != null && fault.status() > 0) {
            fault.headers().forEach(exchange.getResponseHeaders()::add);
            send(exchange, fault.status(), "injected failure");
            return;
        }
        if (!Files.isRegularFile(file)) {
            send(exchange, 404, "Not Found");
            return;
        }
        byte[] bytes = Files.readAllBytes(file);
        if (fault != null && fault.flipLastByte()) {
            bytes[bytes.length - 1] ^= 1;
        }
        String range = exchange.getRequestHeaders().getFirst("Range");
        int offset = 0;
        Matcher m = range == null ? null : RANGE.matcher(range);
        if (m != null && m.matches()) {
            offset = Integer.parseInt(m.group(1));
            exchange.getResponseHeaders().add("Content-Range", "bytes " + offset + "-" + (bytes.length - 1) + "/"
                    + bytes.length);
        }
        exchange.sendResponseHeaders(offset > 0 ? 206 : 200, bytes.length - offset);
        OutputStream out = exchange.getResponseBody();
        long limit = fault == null ? -1 : Math.max(fault.cutAfterBytes(), fault.stallAfterBytes());
        if (limit < 0) {
            out.write(bytes, offset, bytes.length - offset);
            return;
        }
        int end = (int) Math.min(bytes.length, offset + limit);
        out.write(bytes, offset, end - offset);
        out.flush();
        if (fault.stallAfterBytes() >= 0) {
            awaitClose();
        }
        // Failing with bytes missing drops the connection: the client sees the body end early.
        throw new IOException("injected cut after " + (end - offset) + " bytes");
    }

    private void awaitClose() {
        try {
            closed.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void send(HttpExchange exchange, int status, String body) throws IOException {
        byte[] bytes = body.getBytes();
        exchange.getResponseHeaders().add("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, bytes.length);
        exchange.getResponseBody().write(bytes);
    }

    @Override
    public void close() {
        closed.countDown();
        server.stop(0);
        storage.stop(0);
        executor.shutdownNow();
    }
}
