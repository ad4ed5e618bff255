package dev.kelpie.cli.mcp;

import io.grpc.Status;
import io.modelcontextprotocol.spec.McpSchema.CallToolResult;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * The MCP sessions of one HTTP server, each with its own sandboxes. Over HTTP nothing like the end of stdin says that
 * a client is gone, so a session ends when the client deletes it (HTTP DELETE, as the spec asks clients to do), when
 * it has been idle for the idle timeout (no request in flight, no open stream), or when the server stops. An ended
 * session's id is refused from then on (HTTP 404, after which a client starts a new session, as the spec says).
 */
final class HttpSessions {

    private static final class Entry {
        final SessionTools tools;
        long lastActiveNanos;
        int inFlight;

        Entry(SessionTools tools, long now) {
            this.tools = tools;
            this.lastActiveNanos = now;
        }
    }

    private final Map<String, Entry> live = new ConcurrentHashMap<>();
    private final Set<String> ended = ConcurrentHashMap.newKeySet();
    private final Supplier<SessionTools> newSession;
    private final Duration idleTimeout;
    private final LongSupplier nanoClock;
    private final PrintStream log;

    HttpSessions(Supplier<SessionTools> newSession, Duration idleTimeout, LongSupplier nanoClock, PrintStream log) {
        this.newSession = newSession;
        this.idleTimeout = idleTimeout;
        this.nanoClock = nanoClock;
        this.log = log;
    }

    /** The session's entry, made at its first tool call; null once it has ended. */
    private Entry entry(String transportId) {
        return live.computeIfAbsent(transportId, id -> {
            if (ended.contains(id)) {
                return null;
            }
            SessionTools tools = newSession.get();
            log.println("kelpie mcp: HTTP session " + id + " has sandbox label " + McpSession.SESSION_LABEL + "="
                    + tools.id());
            return new Entry(tools, nanoClock.getAsLong());
        });
    }

    /** A tool call of the session with this transport id (the client's {@code Mcp-Session-Id}). */
    CallToolResult call(String transportId, String tool, Map<String, Object> arguments) {
        if (transportId == null || ended.contains(transportId)) {
            return ToolResults.error(Status.Code.UNAVAILABLE, "this MCP session has ended; start a new one");
        }
        Entry e = entry(transportId);
        if (e == null) {
            return ToolResults.error(Status.Code.UNAVAILABLE, "this MCP session has ended; start a new one");
        }
        synchronized (e) {
            e.inFlight++;
        }
        try {
            return e.tools.call(tool, arguments);
        } finally {
            finished(transportId);
        }
    }

    /** What to do with a request that names a session. */
    enum Admission {
        /** The session has ended: refuse the request. */
        REFUSED,
        /** No tool was called in the session yet, so it owns nothing: pass it on without tracking. */
        UNTRACKED,
        /** Pass it on; call {@link #finished} when it (or the stream it opened) is over. */
        TRACKED
    }

    /**
     * A request of the session arrives. Only sessions that called a tool are tracked: the SDK has accepted their id by
     * then, so a request with a made-up id creates nothing here.
     */
    Admission started(String transportId) {
        if (ended.contains(transportId)) {
            return Admission.REFUSED;
        }
        Entry e = live.get(transportId);
        if (e == null) {
            return Admission.UNTRACKED;
        }
        synchronized (e) {
            e.inFlight++;
            e.lastActiveNanos = nanoClock.getAsLong();
        }
        return Admission.TRACKED;
    }

    /** A request (or a stream it opened) of the session is over. */
    void finished(String transportId) {
        Entry e = live.get(transportId);
        if (e != null) {
            synchronized (e) {
                e.inFlight--;
                e.lastActiveNanos = nanoClock.getAsLong();
            }
        }
    }

    /** Ends a session: refuses its id from now on and deletes its sandboxes (but kept ones) before returning. */
    void end(String transportId, String why) {
        ended.add(transportId);
        Entry e = live.remove(transportId);
        if (e != null) {
            log.println("kelpie mcp: HTTP session " + transportId + " ended (" + why + ")");
            e.tools.end();
        }
    }

    /** Ends every session idle for the idle timeout or longer; returns their ids. */
    List<String> sweep() {
        long now = nanoClock.getAsLong();
        List<String> idle = new ArrayList<>();
        live.forEach((id, e) -> {
            synchronized (e) {
                if (e.inFlight <= 0 && now - e.lastActiveNanos >= idleTimeout.toNanos()) {
                    idle.add(id);
                }
            }
        });
        endAll(idle, "idle for " + idleTimeout.toSeconds() + " s");
        return idle;
    }

    /** Ends every session, in parallel (the server is stopping). */
    void endAll() {
        endAll(List.copyOf(live.keySet()), "kelpie mcp is stopping");
    }

    private void endAll(List<String> ids, String why) {
        try (ExecutorService ends = Executors.newVirtualThreadPerTaskExecutor()) {
            for (String id : ids) {
                ends.submit(() -> end(id, why));
            }
        }
    }

    Set<String> liveIds() {
        return Set.copyOf(live.keySet());
    }
}
