package dev.kelpie.daemon.sandboxes;

import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import org.jboss.logging.Logger;

/**
 * Ends sandboxes past their TTL or idle timeout, and saves activity that only lived in memory, so that a restarted
 * daemon measures idleness from the last exec rather than from the last state change.
 */
final class SandboxReaper {

    private static final Logger LOG = Logger.getLogger(SandboxReaper.class);

    private final SandboxRegistry registry;
    private final SandboxLifecycle lifecycle;
    private final Clock clock;

    SandboxReaper(SandboxRegistry registry, SandboxLifecycle lifecycle, Clock clock) {
        this.registry = registry;
        this.lifecycle = lifecycle;
        this.clock = clock;
    }

    /** One pass: deletes the expired sandboxes (a failing delete spares none of the others); returns the ids deleted. */
    List<String> reap() throws InterruptedException {
        registry.persistInMemoryState(false);
        long now = clock.millis();
        List<String> reaped = new ArrayList<>();
        for (Sandbox sandbox : registry.inCreationOrder()) {
            SandboxRecord r = sandbox.current();
            if (r.state() != SandboxState.READY && r.state() != SandboxState.PAUSED) {
                continue;
            }
            boolean expired = r.config().ttlMs() > 0 && now - r.createdAtMs() >= r.config().ttlMs();
            boolean idle = r.config().idleTimeoutMs() > 0 && now - r.lastActivityMs() >= r.config().idleTimeoutMs();
            if (expired || idle) {
                LOG.infof("sandbox %s: %s; deleting", r.id(), expired ? "TTL expired" : "idle timeout reached");
                try {
                    lifecycle.delete(r.id());
                    reaped.add(r.id());
                } catch (RuntimeException e) {
                    LOG.errorf(e, "sandbox %s: deleting it failed; reaping the others goes on", r.id());
                }
            }
        }
        return reaped;
    }
}
