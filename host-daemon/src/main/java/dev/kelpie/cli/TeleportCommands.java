package dev.kelpie.cli;

import dev.kelpie.api.v1.PackageSummary;
import dev.kelpie.api.v1.PackagesGrpc;
import dev.kelpie.api.v1.ExportPackageRequest;
import dev.kelpie.api.v1.ExportPackageResponse;
import dev.kelpie.api.v1.RestoreRequest;
import dev.kelpie.api.v1.RestoreResponse;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.SnapshotKind;
import dev.kelpie.api.v1.SnapshotRequest;
import dev.kelpie.api.v1.SnapshotResponse;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import io.grpc.ManagedChannel;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code kelpie snapshot}, {@code kelpie restore} and {@code kelpie teleport}. */
final class TeleportCommands {

    private TeleportCommands() {}

    static SnapshotKind kind(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "checkpoint" -> SnapshotKind.SNAPSHOT_KIND_CHECKPOINT;
            case "vm" -> SnapshotKind.SNAPSHOT_KIND_VM;
            default -> throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(new Snapshot()),
                    "--kind must be checkpoint or vm, not " + name);
        };
    }

    static void printPackage(PackageSummary p) {
        System.out.printf("%s  %s  image %s/%s  %s  %s  store %s%n", p.getId(),
                p.getKind() == SnapshotKind.SNAPSHOT_KIND_VM ? "vm" : "checkpoint", p.getImageVersion(), p.getArch(),
                p.getHypervisor(), ProgressBar.bytes(p.getSizeBytes()), p.getStore());
    }

    @Command(name = "snapshot", description = "Package a sandbox into a teleport package; prints the package id.")
    static final class Snapshot implements Callable<Integer> {
        @ParentCommand
        KelpieCli cli;

        @Parameters(index = "0", paramLabel = "SANDBOX", description = "sandbox id")
        String sandboxId;

        @Option(names = "--kind", description = "checkpoint (workspace and settings, restorable anywhere) or vm (full"
                + " state, same image and host kind only); default ${DEFAULT-VALUE}")
        String kind = "checkpoint";

        @Option(names = "--store", description = "package store (default: the daemon's default store)")
        String store = "";

        @Option(names = "--label", description = "label KEY=VALUE for the package (repeatable)")
        Map<String, String> labels = Map.of();

        @Option(names = "--stop", description = "delete the sandbox after a successful snapshot")
        boolean stop;

        @Override
        public Integer call() {
            SnapshotResponse response = SandboxesGrpc.newBlockingStub(cli.channel()).snapshot(SnapshotRequest.newBuilder()
                    .setSandboxId(sandboxId).setKind(kind(kind)).setStore(store).putAllLabels(labels).setStopAfter(stop)
                    .build());
            response.getWarningsList().forEach(w -> System.err.println("warning: " + w));
            printPackage(response.getPackage());
            return 0;
        }
    }

    @Command(name = "restore", description = "Make a new sandbox from a teleport package; prints its id.")
    static final class Restore implements Callable<Integer> {
        @ParentCommand
        KelpieCli cli;

        @Parameters(index = "0", paramLabel = "PACKAGE", description = "package id")
        String packageId;

        @Option(names = "--store", description = "package store (default: the daemon's default store)")
        String store = "";

        @Option(names = "--image-version", description = "restore a checkpoint on this image version (MAJOR.MINOR"
                + " must match the package's)")
        String imageVersion = "";

        @Option(names = "--label", description = "label KEY=VALUE for the new sandbox (repeatable)")
        Map<String, String> labels = Map.of();

        @Option(names = "--accept-network", description = "apply the network policy recorded in the package (without"
                + " it the new sandbox has no network; a package never opens the host's own addresses)")
        boolean acceptNetwork;

        @Option(names = "--arch", description = "restore as a guest of this architecture, x86_64 or aarch64 (default:"
                + " the daemon's; a vm package only as its own)")
        String arch = "";

        @Option(names = "--oci", paramLabel = "REFERENCE", description = "for a checkpoint of a sandbox from an OCI"
                + " image: restore onto this reference instead of the digest the sandbox ran")
        String ociImage = "";

        @Option(names = "--accept-other-oci-digest", description = "allow --oci to name another digest of the same"
                + " repository (a warning names both)")
        boolean acceptOtherOciDigest;

        @Override
        public Integer call() {
            RestoreResponse response = SandboxesGrpc.newBlockingStub(cli.channel()).restore(request(packageId, store,
                    imageVersion, labels, acceptNetwork, arch).toBuilder().setAcceptOtherOciDigest(acceptOtherOciDigest)
                    .setSpecOverrides(SandboxSpec.newBuilder().putAllLabels(labels).setArch(arch).setOciImage(ociImage))
                    .build());
            response.getWarningsList().forEach(w -> System.err.println("warning: " + w));
            System.out.println(response.getSandbox().getId());
            return 0;
        }
    }

    static RestoreResponse restore(ManagedChannel channel, String packageId, String store, String imageVersion,
            Map<String, String> labels, boolean acceptNetwork, String arch) {
        return SandboxesGrpc.newBlockingStub(channel).restore(request(packageId, store, imageVersion, labels,
                acceptNetwork, arch));
    }

    private static RestoreRequest request(String packageId, String store, String imageVersion,
            Map<String, String> labels, boolean acceptNetwork, String arch) {
        return RestoreRequest.newBuilder().setPackageId(packageId).setStore(store).setImageVersion(imageVersion)
                .setAcceptPackagedNetwork(acceptNetwork).setSpecOverrides(SandboxSpec.newBuilder().putAllLabels(labels)
                        .setArch(arch)).build();
    }

    @Command(name = "teleport", description = "Move a sandbox to another daemon: snapshot here, send the package,"
            + " restore there, then delete it here. Prints the new sandbox's id.")
    static final class Teleport implements Callable<Integer> {
        @ParentCommand
        KelpieCli cli;

        @Parameters(index = "0", paramLabel = "SANDBOX", description = "sandbox id")
        String sandboxId;

        @Option(names = "--to", required = true, description = "the other daemon's API socket (a remote host's socket"
                + " forwarded over SSH works too)")
        Path to;

        @Option(names = "--kind", description = "checkpoint or vm; default ${DEFAULT-VALUE}")
        String kind = "checkpoint";

        @Option(names = "--keep", description = "keep the sandbox here too")
        boolean keep;

        @Override
        public Integer call() throws Exception {
            SnapshotResponse snapshot = SandboxesGrpc.newBlockingStub(cli.channel()).snapshot(SnapshotRequest
                    .newBuilder().setSandboxId(sandboxId).setKind(kind(kind)).build());
            String packageId = snapshot.getPackage().getId();
            try (UnixSocketChannels remoteChannels = new UnixSocketChannels()) {
                ManagedChannel remote = remoteChannels.open(to);
                try {
                    transfer(cli.channel(), packageId, snapshot.getPackage().getStore(), remote);
                    // The package was made from the caller's own sandbox a moment ago: its network moves with it.
                    RestoreResponse restored = restore(remote, packageId, "", "", Map.of(), true, "");
                    restored.getWarningsList().forEach(w -> System.err.println("warning: " + w));
                    if (!keep) {
                        SandboxesGrpc.newBlockingStub(cli.channel())
                                .delete(DeleteSandboxRequest.newBuilder().setId(sandboxId).build());
                    }
                    System.out.println(restored.getSandbox().getId());
                } finally {
                    remote.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                }
            }
            return 0;
        }
    }

    /** Streams a package from one daemon's Export into another's Import. */
    static PackageSummary transfer(ManagedChannel from, String packageId, String fromStore, ManagedChannel to)
            throws Exception {
        Iterator<ExportPackageResponse> chunks = PackagesGrpc.newBlockingStub(from)
                .export(ExportPackageRequest.newBuilder().setId(packageId).setStore(fromStore).build());
        return PackageUpload.upload(to, "", () -> chunks.hasNext() ? Optional.of(chunks.next().getData())
                : Optional.empty());
    }
}
