package dev.kelpie.daemon.images.oci;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Debian's {@code docker-registry} (the CNCF distribution server) on a loopback port, storing under a test's
 * directory; with a token section, it sends bearer challenges pointing at the test's token endpoint.
 */
public final class TestRegistry implements AutoCloseable {

    public static final Path BINARY = Path.of("/usr/bin/docker-registry");
    private static final Duration START_DEADLINE = Duration.ofSeconds(30);

    private final Process process;
    private final int port;
    private final Path storage;

    private TestRegistry(Process process, int port, Path storage) {
        this.process = process;
        this.port = port;
        this.storage = storage;
    }

    /** @param auth YAML of an {@code auth:} section, or empty for an open registry */
    public static TestRegistry start(Path dir, String auth) throws IOException, InterruptedException {
        return start(dir, Files.createDirectories(dir.resolve("storage")), auth, "");
    }

    /**
     * A registry serving {@code storage} (another registry's, to serve the same images over TLS).
     *
     * @param tls YAML under {@code http:} (indented two spaces), or empty for plain HTTP
     */
    static TestRegistry start(Path dir, Path storage, String auth, String tls) throws IOException,
            InterruptedException {
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        Path config = dir.resolve("config.yml");
        Files.writeString(config, """
                version: 0.1
                log:
                  level: warn
                storage:
                  filesystem:
                    rootdirectory: %s
                  delete:
                    enabled: true
                http:
                  addr: 127.0.0.1:%d
                %s
                %s
                """.formatted(storage, port, tls, auth));
        Process process = new ProcessBuilder(BINARY.toString(), "serve", config.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("registry.log").toFile()).start();
        TestRegistry registry = new TestRegistry(process, port, storage);
        registry.awaitUp(dir);
        return registry;
    }

    private void awaitUp(Path dir) throws IOException, InterruptedException {
        HttpClient http = HttpClient.newHttpClient();
        long deadline = System.nanoTime() + START_DEADLINE.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("docker-registry exited: " + Files.readString(dir.resolve("registry.log")));
            }
            try {
                // Any answer will do: a TLS registry answers plain HTTP with 400.
                http.send(HttpRequest.newBuilder(URI.create("http://" + host() + "/v2/")).build(),
                        HttpResponse.BodyHandlers.discarding());
                return;
            } catch (IOException notYet) {
                // not listening yet
            }
            Thread.sleep(50);
        }
        close();
        throw new IllegalStateException("docker-registry did not answer within " + START_DEADLINE);
    }

    public Path storage() {
        return storage;
    }

    public String host() {
        return "127.0.0.1:" + port;
    }

    /** The file the registry serves a blob from (the filesystem driver's layout). */
    public Path blobData(String sha256) {
        return storage.resolve("docker/registry/v2/blobs/sha256").resolve(sha256.substring(0, 2)).resolve(sha256)
                .resolve("data");
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }
}
