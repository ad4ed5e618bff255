package dev.kelpie.daemon.sandboxes;

/** Where a sandbox is in its life; mirrors {@code kelpie.v1.SandboxState}. */
public enum SandboxState {
    CREATING, READY, PAUSED, STOPPING, STOPPED, FAILED;

    /** Its VM is (or may still be) running and counts against the host's budget. */
    public boolean holdsVm() {
        return this == CREATING || this == READY || this == PAUSED || this == STOPPING;
    }
}
