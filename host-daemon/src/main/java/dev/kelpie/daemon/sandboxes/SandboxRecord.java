package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.hypervisor.VmRecord;

/**
 * A sandbox as persisted and reported: an immutable snapshot, replaced on every change.
 *
 * @param vm the running VM; null before it started and after it ended
 * @param failureReason why it failed, with the guest console's tail; empty otherwise
 */
public record SandboxRecord(String id, SandboxConfig config, SandboxState state, String failureReason, long createdAtMs,
        String backend, String arch, String imageVersion, boolean fromPool, VmRecord vm, long lastActivityMs) {

    SandboxRecord withState(SandboxState newState) {
        return new SandboxRecord(id, config, newState, failureReason, createdAtMs, backend, arch, imageVersion, fromPool,
                vm, lastActivityMs);
    }

    SandboxRecord failed(String reason) {
        return new SandboxRecord(id, config, SandboxState.FAILED, reason, createdAtMs, backend, arch, imageVersion,
                fromPool, null, lastActivityMs);
    }

    SandboxRecord withVm(VmRecord newVm) {
        return new SandboxRecord(id, config, state, failureReason, createdAtMs, backend, arch, imageVersion, fromPool,
                newVm, lastActivityMs);
    }

    SandboxRecord withActivity(long atMs) {
        return new SandboxRecord(id, config, state, failureReason, createdAtMs, backend, arch, imageVersion, fromPool,
                vm, atMs);
    }
}
