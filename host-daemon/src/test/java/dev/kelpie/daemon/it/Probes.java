package dev.kelpie.daemon.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;

/** Reads backend probes out of {@code Host.Info}, waiting until the startup probe has finished. */
final class Probes {

    private static final ObjectMapper JSON = new ObjectMapper();
    static final Duration PROBE_TIMEOUT = Duration.ofSeconds(90);

    private Probes() {}

    static JsonNode awaitBackend(DaemonProcess daemon, String name) {
        AtomicReference<JsonNode> found = new AtomicReference<>();
        Await.until("the " + name + " probe to finish", PROBE_TIMEOUT, () -> {
            JsonNode backend = backend(info(daemon), name);
            boolean running = backend.path("reason").asText().equals("probe running");
            found.set(backend);
            return !backend.isMissingNode() && !running;
        });
        return found.get();
    }

    static JsonNode info(DaemonProcess daemon) {
        try {
            return JSON.readTree(daemon.client().call("kelpie.v1.Host/Info", "{}").requireSuccess().stdout());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static JsonNode backend(JsonNode info, String name) {
        for (JsonNode b : info.path("backends")) {
            if (b.path("name").asText().equals(name)) {
                return b;
            }
        }
        return com.fasterxml.jackson.databind.node.MissingNode.getInstance();
    }

    static JsonNode accelerator(JsonNode backend, String name) {
        for (JsonNode a : backend.path("accelerators")) {
            if (a.path("name").asText().equals(name)) {
                return a;
            }
        }
        throw new AssertionError("no accelerator " + name + " in " + backend);
    }
}
