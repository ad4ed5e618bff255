package dev.kelpie.cli.mcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.modelcontextprotocol.spec.McpSchema.CallToolResult;
import io.modelcontextprotocol.spec.McpSchema.TextContent;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** When HTTP sessions end: on the client's DELETE, after the idle timeout with nothing in flight, at shutdown. */
class HttpSessionsTest {

    private static final Duration IDLE = Duration.ofMinutes(30);

    private final ManagedChannel nowhere = InProcessChannelBuilder.forName("no-daemon-" + System.nanoTime()).build();
    private final McpLimits limits = new McpLimits(1, 2, 1024, 4096, List.of(), Duration.ofMinutes(5), 1000);
    private final AtomicLong clock = new AtomicLong();
    private final ByteArrayOutputStream logged = new ByteArrayOutputStream();
    private final HttpSessions sessions = new HttpSessions(() -> new SessionTools(McpStdioServer.json(), limits,
            new DaemonStubs(nowhere), log()), IDLE, clock::get, log());

    private PrintStream log() {
        return new PrintStream(logged, true, StandardCharsets.UTF_8);
    }

    @AfterEach
    void close() {
        nowhere.shutdownNow();
    }

    private static String text(CallToolResult r) {
        return ((TextContent) r.content().getFirst()).text();
    }

    /** A tool call that needs no daemon: it makes the session own its tools. */
    private CallToolResult listIn(String session) {
        return sessions.call(session, "list_sandboxes", Map.of());
    }

    @Test
    void aSessionIsTrackedFromItsFirstToolCallOnly() {
        assertEquals(HttpSessions.Admission.UNTRACKED, sessions.started("s1"));
        assertEquals(Set.of(), sessions.liveIds());
        listIn("s1");
        assertEquals(Set.of("s1"), sessions.liveIds());
        assertEquals(HttpSessions.Admission.TRACKED, sessions.started("s1"));
    }

    @Test
    void anIdleSessionEndsAndItsIdIsRefusedFromThenOn() {
        listIn("idle");
        listIn("busy");
        listIn("recent");
        assertEquals(HttpSessions.Admission.TRACKED, sessions.started("busy")); // a stream left open
        clock.addAndGet(IDLE.toNanos() - 1);
        assertEquals(HttpSessions.Admission.TRACKED, sessions.started("recent"));
        sessions.finished("recent");
        clock.addAndGet(1);

        assertEquals(List.of("idle"), sessions.sweep());
        assertEquals(Set.of("busy", "recent"), sessions.liveIds());
        assertEquals(HttpSessions.Admission.REFUSED, sessions.started("idle"));
        CallToolResult late = listIn("idle");
        assertTrue(late.isError() && text(late).startsWith("UNAVAILABLE: "), text(late));
        assertTrue(logged.toString(StandardCharsets.UTF_8).contains("HTTP session idle ended (idle for 1800 s)"),
                logged.toString(StandardCharsets.UTF_8));

        sessions.finished("busy");
        clock.addAndGet(IDLE.toNanos());
        assertEquals(Set.of("busy", "recent"), Set.copyOf(sessions.sweep()));
    }

    @Test
    void endingIsOnceAndStoppingEndsEverySession() {
        listIn("a");
        listIn("b");
        sessions.end("a", "the client deleted it");
        sessions.end("a", "the client deleted it");
        assertEquals(1, logged.toString(StandardCharsets.UTF_8).split("HTTP session a ended", -1).length - 1);
        sessions.endAll();
        assertEquals(Set.of(), sessions.liveIds());
        assertEquals(HttpSessions.Admission.REFUSED, sessions.started("b"));
    }
}
