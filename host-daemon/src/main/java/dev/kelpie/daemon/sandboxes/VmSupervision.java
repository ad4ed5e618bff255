package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.hypervisor.VmHandle;
import org.jboss.logging.Logger;

/**
 * Notices when a sandbox can no longer serve — its VM exited, or the agent of a re-adopted VM never answered — and
 * marks it FAILED with the reason; a FAILED sandbox holds no VM and no files, only its record for Get to explain.
 */
final class VmSupervision {

    private static final Logger LOG = Logger.getLogger(VmSupervision.class);

    private final SandboxRegistry registry;
    private final VmLauncher launcher;
    private final SandboxNetworks networks;
    private volatile boolean closed;

    VmSupervision(SandboxRegistry registry, VmLauncher launcher, SandboxNetworks networks) {
        this.registry = registry;
        this.launcher = launcher;
        this.networks = networks;
    }

    /** Watches a serving VM for its exit. */
    void watch(Sandbox sandbox, VmHandle vm) {
        vm.exited().thenRun(() -> onVmExit(sandbox, vm));
    }

    private void onVmExit(Sandbox sandbox, VmHandle vm) {
        if (closed) {
            return; // the next daemon owns the records now and will find the VM gone
        }
        String reason = "its VM (" + vm.describe() + ") exited unexpectedly; console:\n"
                + vm.consoleTail(VmLauncher.CONSOLE_TAIL_LINES);
        if (!fail(sandbox, vm, reason)) {
            return;
        }
        sandbox.agent.thenAccept(VmLauncher::closeQuietly);
        // Sockets and the disk of a dead VM are of no use; the record stays, so Get explains the failure.
        networks.detach(sandbox.id());
        registry.store().deleteRuntimeDir(sandbox.id());
    }

    /**
     * A re-adopted sandbox whose agent is gone can serve nothing: it fails (so it is not reported READY) and its VM,
     * which a FAILED sandbox no longer holds, is killed with its files.
     */
    void failUnreachable(Sandbox sandbox, VmHandle vm, String reason) {
        if (fail(sandbox, vm, reason)) {
            vm.kill();
            launcher.removeRuntime(sandbox.id());
        }
    }

    /** Marks the sandbox FAILED if {@code vm} still serves it and nothing else ended it first. */
    private boolean fail(Sandbox sandbox, VmHandle vm, String reason) {
        synchronized (sandbox) {
            SandboxState state = sandbox.record.state();
            if (sandbox.vm != vm || !state.canBecome(SandboxState.FAILED) || state == SandboxState.FAILED
                    || sandbox.gone.isDone()) {
                return false;
            }
            registry.update(sandbox, r -> r.failed(reason));
        }
        registry.deliverEvents();
        LOG.errorf("sandbox %s failed: %s", sandbox.id(), reason);
        return true;
    }

    /** From now on VM exits are the next daemon's to notice. */
    void close() {
        closed = true;
    }
}
