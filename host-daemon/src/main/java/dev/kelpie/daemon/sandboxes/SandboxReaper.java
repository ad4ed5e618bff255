package dev.kelpie.daemon.sandboxes;

import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import org.jboss.logging.Logger;

/**
 * Ends sandboxes past their TTL and applies idle actions (ADR 0029), and saves activity that only lived in memory, so
 * that a restarted daemon measures idleness from the last call rather than from the last state change.
 */
final class SandboxReaper {

    private static final Logger LOG = Logger.getLogger(SandboxReaper.class);

    private final SandboxRegistry registry;
    private final SandboxLifecycle lifecycle;
    private final IdleActions idle;
    private final Clock clock;

    SandboxReaper(SandboxRegistry registry, SandboxLifecycle lifecycle, IdleActions idle, Clock clock) {
        this.registry = registry;
        this.lifecycle = lifecycle;
        this.idle = idle;
        this.clock = clock;
    }

    /**
     * One pass: deletes the expired sandboxes and applies the idle action of idle ones (a failure spares none of the
     * others); returns the ids deleted.
     */
    List<String> reap() throws InterruptedException {
        long now = clock.millis();
        for (Sandbox sandbox : registry.inCreationOrder()) {
            if (sandbox.calls.get() > 0) {
                // Busy now: saved as activity, so a daemon restarted meanwhile times idleness from here.
                sandbox.lastActivityMs = Math.max(sandbox.lastActivityMs, now);
            }
        }
        registry.persistInMemoryState(false);
        List<String> reaped = new ArrayList<>();
        for (Sandbox sandbox : registry.inCreationOrder()) {
            SandboxRecord r = sandbox.record;
            SandboxState state = r.state();
            if (state != SandboxState.READY && state != SandboxState.PAUSED && state != SandboxState.SUSPENDED) {
                continue;
            }
            boolean expired = r.config().ttlMs() > 0 && now - r.createdAtMs() >= r.config().ttlMs();
            IdleAction action = r.config().idleAction();
            boolean idle = !expired && action != IdleAction.NONE && IdleActions.looksIdle(sandbox, now)
                    && !busyDetached(sandbox, now);
            try {
                if (expired || (idle && action == IdleAction.DELETE)) {
                    LOG.infof("sandbox %s: %s; deleting", r.id(), expired ? "TTL expired" : "idle timeout reached");
                    lifecycle.delete(r.id());
                    reaped.add(r.id());
                } else if (idle) {
                    this.idle.apply(sandbox, action);
                }
            } catch (RuntimeException e) {
                LOG.errorf(e, "sandbox %s: %s failed; the others go on", r.id(), expired ? "deleting it" : "its idle action");
            }
        }
        return reaped;
    }

    /** A process under a detached exec is work: it counts as activity now. */
    private boolean busyDetached(Sandbox sandbox, long now) {
        if (!idle.runsDetachedWork(sandbox)) {
            return false;
        }
        sandbox.lastActivityMs = Math.max(sandbox.lastActivityMs, now);
        return true;
    }
}
