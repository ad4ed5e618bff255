package dev.kelpie.daemon.sandboxes;

/**
 * Where a sandbox is in its life; mirrors {@code kelpie.v1.SandboxState}. The lifecycle:
 *
 * <pre>
 *   CREATING ──▶ READY ◀──▶ PAUSED
 *      │           │          │
 *      ├──────▶ FAILED ◀──────┤        (a VM that dies, an agent that never comes back, a daemon that
 *      │           │          │         stopped mid-create)
 *      ▼           ▼          ▼
 *   STOPPING ◀─────┴──────────┘        (Delete; also of a CREATING sandbox, which cancels its boot)
 *      ▼
 *   STOPPED                            (the record is gone; also where a failed create ends)
 * </pre>
 *
 * A plain Create served by the warm pool is born READY: its VM was configured when it booted (ADR 0026).
 */
public enum SandboxState {
    CREATING, READY, PAUSED, STOPPING, STOPPED, FAILED;

    /** Its VM is (or may still be) running and counts against the host's budget. */
    public boolean holdsVm() {
        return this == CREATING || this == READY || this == PAUSED || this == STOPPING;
    }

    /** Whether the lifecycle allows moving from this state to {@code next}. Staying is always allowed but in STOPPED. */
    public boolean canBecome(SandboxState next) {
        if (next == this) {
            return this != STOPPED;
        }
        return switch (this) {
            case CREATING -> next == READY || next == FAILED || next == STOPPING || next == STOPPED;
            case READY -> next == PAUSED || next == STOPPING || next == FAILED;
            case PAUSED -> next == READY || next == STOPPING || next == FAILED;
            case FAILED -> next == STOPPING;
            case STOPPING -> next == STOPPED;
            case STOPPED -> false;
        };
    }
}
