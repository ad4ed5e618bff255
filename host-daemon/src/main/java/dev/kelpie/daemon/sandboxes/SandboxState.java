package dev.kelpie.daemon.sandboxes;

/**
 * Where a sandbox is in its life; mirrors {@code kelpie.v1.SandboxState}. The lifecycle:
 *
 * <pre>
 *   CREATING ──▶ READY ◀──▶ PAUSED
 *      │         ▲ │          │
 *      │         ▼ │          │
 *      │     SUSPENDED ───────┤        (idle_action snapshot: the VM's state is in local files, its process gone)
 *      │           │          │
 *      ├──────▶ FAILED ◀──────┤        (a VM that dies, an agent that never comes back, a daemon that
 *      │           │          │         stopped mid-create)
 *      ▼           ▼          ▼
 *   STOPPING ◀─────┴──────────┘        (Delete; also of a CREATING sandbox, which cancels its boot)
 *      ▼
 *   STOPPED                            (the record is gone; also where a failed create ends)
 * </pre>
 *
 * A plain Create served by the warm pool is born READY: its VM was configured when it booted (ADR 0026). A SUSPENDED
 * sandbox holds no VM but keeps its room: its resume on the next call is never refused for want of it (ADR 0029).
 */
public enum SandboxState {
    CREATING, READY, PAUSED, STOPPING, STOPPED, FAILED, SUSPENDED;

    /** Its VM is (or may still be) running and counts against the host's budget. */
    public boolean holdsVm() {
        return this == CREATING || this == READY || this == PAUSED || this == STOPPING;
    }

    /** Counts against {@code max-sandboxes} and the memory budget: a VM now, or one that resumes on the next call. */
    public boolean reservesRoom() {
        return holdsVm() || this == SUSPENDED;
    }

    /** Whether the lifecycle allows moving from this state to {@code next}. Staying is always allowed but in STOPPED. */
    public boolean canBecome(SandboxState next) {
        if (next == this) {
            return this != STOPPED;
        }
        return switch (this) {
            case CREATING -> next == READY || next == FAILED || next == STOPPING || next == STOPPED;
            case READY -> next == PAUSED || next == SUSPENDED || next == STOPPING || next == FAILED;
            case PAUSED -> next == READY || next == STOPPING || next == FAILED;
            case FAILED -> next == STOPPING;
            case STOPPING -> next == STOPPED;
            case SUSPENDED -> next == READY || next == STOPPING || next == FAILED;
            case STOPPED -> false;
        };
    }
}
