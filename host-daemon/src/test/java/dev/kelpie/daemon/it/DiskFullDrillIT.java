package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.api.v1.DeletePackageRequest;
import dev.kelpie.api.v1.ListPackagesRequest;
import dev.kelpie.api.v1.PackageSummary;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxState;
import dev.kelpie.api.v1.SnapshotKind;
import dev.kelpie.api.v1.SnapshotRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fault drill: a {@code vm} snapshot runs out of disk space, once in the package store and once in the daemon's
 * staging area (two small filesystems the test mounts). The client gets RESOURCE_EXHAUSTED saying the disk is full,
 * nothing is published and no partial file stays, the sandbox runs on, and a snapshot that fits succeeds afterwards.
 */
class DiskFullDrillIT {

    /**
     * Random bytes kept in the guest's memory only (its /tmp is a tmpfs), so incompressible: a {@code vm} package
     * holds them, a checkpoint (the workspace) does not.
     */
    private static final int GUEST_MEMORY_BALLAST_BYTES = 24 << 20;
    /** Random bytes in the workspace, so incompressible: a checkpoint is a little larger than this. */
    private static final int WORKSPACE_BYTES = 1 << 20;
    /** Far less than a {@code vm} package with the ballast, far more than a checkpoint. */
    private static final long STORE_FS_BYTES = 8L << 20;
    /** Far less than the memory file a {@code vm} save writes into staging, far more than a checkpoint. */
    private static final long STAGING_FS_BYTES = 8L << 20;
    private static final String STORE = "small";

    @TempDir
    static Path work;
    static SmallFilesystem store;
    static DaemonProcess daemon;
    static SandboxClient client;
    static String sandboxId;

    @BeforeAll
    static void startDaemonOnASmallStore() throws Exception {
        String imageDir = System.getProperty("kelpie.it.imageDir", "");
        Assumptions.assumeFalse(imageDir.isBlank(), "no image given (-Dkelpie.imageDir=...; scripts/dev passes it)");
        store = SmallFilesystem.mount(work.resolve("small-store"), STORE_FS_BYTES);
        List<String> args = new ArrayList<>(List.of(SandboxesIT.daemonArgs(imageDir)));
        args.addAll(List.of("-Dkelpie.teleport.stores." + STORE + ".type=local",
                "-Dkelpie.teleport.stores." + STORE + ".path=" + store.mountPoint,
                "-Dkelpie.teleport.default-store=" + STORE));
        daemon = DaemonProcess.startServing(work, "disk-full", args.toArray(String[]::new));
        client = new SandboxClient(daemon.socket);
        sandboxId = client.create(SandboxSpec.getDefaultInstance()).getId();
        client.sh(sandboxId, "head -c " + GUEST_MEMORY_BALLAST_BYTES + " /dev/urandom > /tmp/ballast && head -c "
                + WORKSPACE_BYTES + " /dev/urandom > /workspace/data && md5sum /workspace/data > /workspace/sum");
    }

    @AfterAll
    static void stopDaemonAndUnmount() throws Exception {
        try (SandboxClient closing = client) {
            if (closing != null) {
                closing.deleteAll();
            }
        } finally {
            try {
                if (daemon != null) {
                    daemon.close();
                }
            } finally {
                Leftovers.killQemusNaming(work);
                if (store != null) {
                    store.close();
                }
            }
        }
    }

    @Test
    void aVmSnapshotLargerThanTheStoresFreeSpaceFailsResourceExhaustedAndPublishesNothing() throws Exception {
        assertDiskFull(snapshotFailure(SnapshotKind.SNAPSHOT_KIND_VM));
        assertNothingPublishedAndTheSandboxRunsOn();
        assertACheckpointThatFitsIsPublished();
    }

    @Test
    void aVmSnapshotLargerThanTheStagingAreasFreeSpaceFailsResourceExhaustedAndLeavesNoFile() throws Exception {
        // Mounted on the live daemon: at startup it removes whatever is in its staging directory, mount point or not.
        try (SmallFilesystem staging = SmallFilesystem.mount(daemon.stateDir.resolve("teleport-staging"),
                STAGING_FS_BYTES)) {
            assertDiskFull(snapshotFailure(SnapshotKind.SNAPSHOT_KIND_VM));
            assertNothingPublishedAndTheSandboxRunsOn();
            assertACheckpointThatFitsIsPublished();
        }
    }

    private static Status snapshotFailure(SnapshotKind kind) {
        return assertThrows(StatusRuntimeException.class, () -> client.sandboxes().snapshot(SnapshotRequest
                .newBuilder().setSandboxId(sandboxId).setKind(kind).build()), "the snapshot cannot fit").getStatus();
    }

    private static void assertDiskFull(Status failure) {
        System.out.println("disk full drill: " + failure);
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, failure.getCode(), failure.toString());
        assertTrue(String.valueOf(failure.getDescription()).contains("out of disk space"),
                "the message says the disk is full: " + failure);
    }

    private static void assertNothingPublishedAndTheSandboxRunsOn() throws Exception {
        assertEquals(List.of(), client.packages().list(ListPackagesRequest.getDefaultInstance()).getPackagesList());
        Path storeRoot = store.mountPoint;
        assertEquals(Set.of(".staging"), Leftovers.childNames(storeRoot), "no package directory, whole or partial");
        assertEquals(Set.of(), Leftovers.childNames(storeRoot.resolve(".staging")), "the store's assembly area is empty");
        assertEquals(SandboxState.SANDBOX_STATE_READY, client.get(sandboxId).getState());
        assertTrue(client.sh(sandboxId, "cd /workspace && md5sum -c sum").contains("OK"),
                "the guest runs on after the failed save, its files intact");
        Leftovers.assertOnlyLiveSandboxes(work, daemon, client.list());
    }

    /** The failed save freed what it wrote: a package that fits goes through, in the same places. */
    private static void assertACheckpointThatFitsIsPublished() throws Exception {
        PackageSummary pkg = client.sandboxes().snapshot(SnapshotRequest.newBuilder().setSandboxId(sandboxId)
                .setKind(SnapshotKind.SNAPSHOT_KIND_CHECKPOINT).build()).getPackage();
        assertEquals(List.of(pkg.getId()), client.packages().list(ListPackagesRequest.getDefaultInstance())
                .getPackagesList().stream().map(PackageSummary::getId).toList());
        client.packages().delete(DeletePackageRequest.newBuilder().setId(pkg.getId()).build());
        Leftovers.assertOnlyLiveSandboxes(work, daemon, client.list());
    }
}
