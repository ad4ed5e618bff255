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
 * @param idled it is PAUSED or SUSPENDED by its idle action, not by a client: the next call that needs the guest
 *     resumes it
 * @param oci the OCI image it booted; null for a sandbox on the base image's own root (and in older records)
 */
public record SandboxRecord(String id, SandboxConfig config, SandboxState state, String failureReason, long createdAtMs,
        String backend, String arch, String imageVersion, boolean fromPool, VmRecord vm, long lastActivityMs,
        String restoredFromPackageId, SandboxUsage usage, boolean idled, SandboxOciImage oci) {

    public SandboxRecord {
        restoredFromPackageId = restoredFromPackageId == null ? "" : restoredFromPackageId;
        usage = usage == null ? SandboxUsage.startingAt(createdAtMs) : usage;
    }

    SandboxRecord withState(SandboxState newState) {
        return new SandboxRecord(id, config, newState, failureReason, createdAtMs, backend, arch, imageVersion, fromPool,
                vm, lastActivityMs, restoredFromPackageId, usage, idled && newState != SandboxState.READY, oci);
    }

    SandboxRecord failed(String reason) {
        return new SandboxRecord(id, config, SandboxState.FAILED, reason, createdAtMs, backend, arch, imageVersion,
                fromPool, null, lastActivityMs, restoredFromPackageId, usage, false, oci);
    }

    SandboxRecord withVm(VmRecord newVm) {
        return new SandboxRecord(id, config, state, failureReason, createdAtMs, backend, arch, imageVersion, fromPool,
                newVm, lastActivityMs, restoredFromPackageId, usage, idled, oci);
    }

    SandboxRecord withActivity(long atMs) {
        return new SandboxRecord(id, config, state, failureReason, createdAtMs, backend, arch, imageVersion, fromPool,
                vm, atMs, restoredFromPackageId, usage, idled, oci);
    }

    SandboxRecord withUsage(SandboxUsage newUsage) {
        return new SandboxRecord(id, config, state, failureReason, createdAtMs, backend, arch, imageVersion, fromPool,
                vm, lastActivityMs, restoredFromPackageId, newUsage, idled, oci);
    }

    /** A record as the daemons before idle actions made it. */
    public SandboxRecord(String id, SandboxConfig config, SandboxState state, String failureReason, long createdAtMs,
            String backend, String arch, String imageVersion, boolean fromPool, VmRecord vm, long lastActivityMs,
            String restoredFromPackageId, SandboxUsage usage) {
        this(id, config, state, failureReason, createdAtMs, backend, arch, imageVersion, fromPool, vm, lastActivityMs,
                restoredFromPackageId, usage, false, null);
    }

    /** The defaults of every exec in it. */
    public ExecDefaults execDefaults() {
        return ExecDefaults.of(SandboxNetworks.guestEnv(config), oci);
    }

    /** PAUSED or SUSPENDED by the idle action (READY again clears the mark, see {@link #withState}). */
    SandboxRecord idledInto(SandboxState newState) {
        return new SandboxRecord(id, config, newState, failureReason, createdAtMs, backend, arch, imageVersion, fromPool,
                newState == SandboxState.SUSPENDED ? null : vm, lastActivityMs, restoredFromPackageId, usage, true, oci);
    }
}
