package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.hypervisor.VmRecord;

/**
 * A sandbox as persisted and reported: an immutable snapshot, replaced on every change.
 *
 * @param vm the running VM; null before it started and after it ended
 * @param failureReason why it failed, with the guest console's tail; empty otherwise
 * @param restoredFromPackageId the package it was restored from; empty for a plain create (and in records of daemons
 *     that did not record it)
 * @param usage what it used up to its last save (records of older daemons start counting at creation); the live
 *     figure is kept in memory between saves
 */
public record SandboxRecord(String id, SandboxConfig config, SandboxState state, String failureReason, long createdAtMs,
        String backend, String arch, String imageVersion, boolean fromPool, VmRecord vm, long lastActivityMs,
        String restoredFromPackageId, SandboxUsage usage) {

    public SandboxRecord {
        restoredFromPackageId = restoredFromPackageId == null ? "" : restoredFromPackageId;
        usage = usage == null ? SandboxUsage.startingAt(createdAtMs) : usage;
    }

    SandboxRecord withState(SandboxState newState) {
        return new SandboxRecord(id, config, newState, failureReason, createdAtMs, backend, arch, imageVersion, fromPool,
                vm, lastActivityMs, restoredFromPackageId, usage);
    }

    SandboxRecord failed(String reason) {
        return new SandboxRecord(id, config, SandboxState.FAILED, reason, createdAtMs, backend, arch, imageVersion,
                fromPool, null, lastActivityMs, restoredFromPackageId, usage);
    }

    SandboxRecord withVm(VmRecord newVm) {
        return new SandboxRecord(id, config, state, failureReason, createdAtMs, backend, arch, imageVersion, fromPool,
                newVm, lastActivityMs, restoredFromPackageId, usage);
    }

    SandboxRecord withActivity(long atMs) {
        return new SandboxRecord(id, config, state, failureReason, createdAtMs, backend, arch, imageVersion, fromPool,
                vm, atMs, restoredFromPackageId, usage);
    }

    SandboxRecord withUsage(SandboxUsage newUsage) {
        return new SandboxRecord(id, config, state, failureReason, createdAtMs, backend, arch, imageVersion, fromPool,
                vm, lastActivityMs, restoredFromPackageId, newUsage);
    }
}
