package dev.kelpie.cli.mcp;

import io.grpc.Status;
import java.time.Duration;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * The sandboxes one MCP session owns. The agent reaches only these (a model should not touch a neighbour's
 * sandboxes by guessing ids), at most {@link McpLimits#maxSandboxes} at once; creates in flight hold a slot so that
 * parallel calls cannot overshoot. Once the session closes, a create that finishes late is not adopted: its caller
 * deletes it, so no sandbox outlives a session by racing its end.
 */
final class McpSession {

    /** Label on every sandbox of a session; its value is the session's id. */
    static final String SESSION_LABEL = "kelpie.mcp/session";
    /** Label saying whether the sandbox outlives its session ("true") or not. */
    static final String KEEP_LABEL = "kelpie.mcp/keep";

    private final String id = UUID.randomUUID().toString();
    private final int maxSandboxes;
    private final Set<String> owned = new HashSet<>();
    private int creating;
    private boolean closed;

    McpSession(int maxSandboxes) {
        this.maxSandboxes = maxSandboxes;
    }

    String id() {
        return id;
    }

    /** The labels a new sandbox of this session carries. */
    Map<String, String> labels(boolean keep) {
        return Map.of(SESSION_LABEL, id, KEEP_LABEL, Boolean.toString(keep));
    }

    /** Holds a slot for a sandbox about to be created; give it back with {@link #endCreate}. */
    synchronized void beginCreate() {
        if (closed) {
            throw new ToolError(Status.Code.UNAVAILABLE, "this MCP session is ending");
        }
        if (owned.size() + creating >= maxSandboxes) {
            throw new ToolError(Status.Code.RESOURCE_EXHAUSTED, "this session already has " + owned.size()
                    + " sandbox(es)" + (creating > 0 ? " and " + creating + " being created" : "") + ", the operator's"
                    + " limit is " + maxSandboxes + " (kelpie mcp --max-sandboxes): delete one first");
        }
        creating++;
    }

    /** Ends a create; a created sandbox is adopted unless the session closed meanwhile (then returns false). */
    synchronized boolean endCreate(String createdId) {
        creating--;
        notifyAll();
        if (createdId == null || closed) {
            return false;
        }
        owned.add(createdId);
        return true;
    }

    synchronized void requireOwned(String sandboxId) {
        if (!owned.contains(sandboxId)) {
            throw new ToolError(Status.Code.NOT_FOUND, "no sandbox '" + sandboxId + "' in this session (list_sandboxes"
                    + " shows the ones it has; sandboxes of other sessions are out of reach)");
        }
    }

    synchronized void forget(String sandboxId) {
        owned.remove(sandboxId);
    }

    synchronized Set<String> owned() {
        return Set.copyOf(owned);
    }

    /**
     * Waits until no create is in flight, for at most {@code within}: a create (a restore above all) may have no record
     * at the daemon yet when the session ends, so the cleanup's list would miss the sandbox it is about to get.
     *
     * @return whether none is in flight
     */
    synchronized boolean awaitNoCreates(Duration within) throws InterruptedException {
        long deadline = System.nanoTime() + within.toNanos();
        while (creating > 0) {
            long leftMs = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            if (leftMs <= 0) {
                return false;
            }
            wait(leftMs);
        }
        return true;
    }

    /** Stops adopting sandboxes; the cleanup then deletes what the daemon lists under this session's label. */
    synchronized void close() {
        closed = true;
    }
}
