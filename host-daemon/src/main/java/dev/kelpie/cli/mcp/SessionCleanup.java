package dev.kelpie.cli.mcp;

import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.ListSandboxesRequest;
import dev.kelpie.api.v1.Sandbox;
import io.grpc.StatusRuntimeException;
import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Deletes a session's sandboxes when it ends, except the ones the agent asked to keep. Runs once, from whichever
 * comes first: the end of the client's input or the JVM's shutdown (SIGTERM); the second caller waits for the first
 * to finish, so the process does not exit halfway through.
 */
final class SessionCleanup {

    /**
     * How long the end of a session waits for creates in flight, whose sandboxes it must delete too. A client gives a
     * server a few seconds after closing its input; a restore that takes longer leaves its sandbox, which the session's
     * label still names.
     */
    static final Duration CREATES_SETTLE = Duration.ofSeconds(3);

    private final McpSession session;
    private final DaemonStubs daemon;
    private final PrintStream log;
    private boolean done;

    SessionCleanup(McpSession session, DaemonStubs daemon, PrintStream log) {
        this.session = session;
        this.daemon = daemon;
        this.log = log;
    }

    private void delete(String sandboxId) {
        try {
            daemon.blocking().delete(DeleteSandboxRequest.newBuilder().setId(sandboxId).build());
            log.println("kelpie mcp: deleted sandbox " + sandboxId);
        } catch (StatusRuntimeException e) {
            log.println("kelpie mcp: could not delete sandbox " + sandboxId + ": " + brief(e));
        }
    }

    private static String brief(StatusRuntimeException e) {
        return e.getStatus().getCode() + " " + e.getStatus().getDescription();
    }

    synchronized void run() {
        if (done) {
            return;
        }
        done = true;
        session.close();
        try {
            if (!session.awaitNoCreates(CREATES_SETTLE)) {
                log.println("kelpie mcp: a create was still under way at the end; its sandbox may be left (label "
                        + McpSession.SESSION_LABEL + "=" + session.id() + ")");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            // The daemon's list, not only ours: a restore whose answer never arrived still carries the label.
            List<Sandbox> all = daemon.blocking().list(ListSandboxesRequest.newBuilder()
                    .putLabelSelector(McpSession.SESSION_LABEL, session.id()).build()).getSandboxesList();
            // In parallel: a client gives a server a few seconds after closing its input before it kills it.
            try (ExecutorService deletes = Executors.newVirtualThreadPerTaskExecutor()) {
                for (Sandbox s : all) {
                    if (SandboxSummary.kept(s)) {
                        log.println("kelpie mcp: keeping sandbox " + s.getId() + " (created with keep)");
                    } else {
                        deletes.submit(() -> delete(s.getId()));
                    }
                }
            }
        } catch (StatusRuntimeException e) {
            log.println("kelpie mcp: could not list this session's sandboxes to delete them (label "
                    + McpSession.SESSION_LABEL + "=" + session.id() + "): " + brief(e));
        }
    }
}
