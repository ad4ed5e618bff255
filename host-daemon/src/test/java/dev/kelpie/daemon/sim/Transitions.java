package dev.kelpie.daemon.sim;

import dev.kelpie.daemon.sandboxes.SandboxEvent;
import dev.kelpie.daemon.sandboxes.SandboxState;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Every state change a daemon announced, checked against the lifecycle the API documents. Written down here on its
 * own, not taken from the daemon's table, so that a wrong table is caught too.
 */
final class Transitions {

    private static final Map<SandboxState, Set<SandboxState>> ALLOWED = Map.of(
            SandboxState.CREATING, EnumSet.of(SandboxState.READY, SandboxState.FAILED, SandboxState.STOPPING,
                    SandboxState.STOPPED),
            SandboxState.READY, EnumSet.of(SandboxState.PAUSED, SandboxState.SUSPENDED, SandboxState.STOPPING,
                    SandboxState.FAILED),
            SandboxState.SUSPENDED, EnumSet.of(SandboxState.READY, SandboxState.STOPPING, SandboxState.FAILED),
            SandboxState.PAUSED, EnumSet.of(SandboxState.READY, SandboxState.STOPPING, SandboxState.FAILED),
            SandboxState.FAILED, EnumSet.of(SandboxState.STOPPING),
            SandboxState.STOPPING, EnumSet.of(SandboxState.STOPPED),
            SandboxState.STOPPED, EnumSet.noneOf(SandboxState.class));

    private final List<String> forbidden = new ArrayList<>();

    synchronized void observe(SandboxEvent event) {
        SandboxState from = event.previousState();
        SandboxState to = event.sandbox().state();
        // A sandbox is born CREATING, or READY when a warm-pool VM is handed over whole.
        boolean allowed = from == null ? to == SandboxState.CREATING || to == SandboxState.READY
                : ALLOWED.get(from).contains(to);
        if (!allowed) {
            forbidden.add(event.sandbox().id() + ": " + from + " -> " + to);
        }
    }

    /** The forbidden changes seen so far. */
    synchronized List<String> forbidden() {
        return List.copyOf(forbidden);
    }
}
