package dev.kelpie.daemon.sandboxes;

/**
 * What happens to a sandbox once it has been idle for its idle timeout (ADR 0029). Idle means no call in flight, no
 * attached stream and no process running under a detached exec.
 */
public enum IdleAction {
    /** Nothing: the idle timeout is only reported. */
    NONE,
    /** The vCPUs stop; memory stays with the VM process. The next call that needs the guest resumes it. */
    PAUSE,
    /**
     * The VM's state goes to local files and its process ends, freeing its memory: the sandbox is SUSPENDED until the
     * next call that needs the guest resumes it from those files.
     */
    SNAPSHOT,
    /** The sandbox is deleted (what an idle timeout always did before idle actions). */
    DELETE;

    /** Whether the sandbox comes back by itself on the next call. */
    public boolean resumesOnUse() {
        return this == PAUSE || this == SNAPSHOT;
    }
}
