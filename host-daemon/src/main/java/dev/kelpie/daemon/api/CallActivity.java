package dev.kelpie.daemon.api;

import dev.kelpie.daemon.sandboxes.SandboxManager;

/**
 * Holds a sandbox's in-flight count for one stream, from its start to its end however it ends, so that no idle action
 * pauses or suspends the sandbox under it (ADR 0029). Runs as the stream's end handler; an end that comes before the
 * start (a client that cancels at once) still releases what the start takes.
 */
final class CallActivity implements Runnable {

    private final SandboxManager manager;
    private volatile SandboxManager.InFlight held;
    private volatile boolean ended;

    CallActivity(SandboxManager manager) {
        this.manager = manager;
    }

    /**
     * Counts the stream as in flight on {@code sandboxId}; call before asking for the agent session.
     *
     * @throws dev.kelpie.daemon.sandboxes.SandboxNotFoundException when it does not exist
     */
    void begin(String sandboxId) {
        SandboxManager.InFlight taken = manager.inFlight(sandboxId);
        held = taken;
        if (ended) {
            taken.close(); // closing twice counts once
        }
    }

    /** The stream ended. */
    @Override
    public void run() {
        ended = true;
        SandboxManager.InFlight taken = held;
        if (taken != null) {
            taken.close();
        }
    }
}
