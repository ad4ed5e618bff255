package dev.kelpie.daemon.api;

import dev.kelpie.daemon.errors.InvalidRequestException;
import dev.kelpie.api.v1.PackageBlob;
import dev.kelpie.api.v1.PackageSummary;
import dev.kelpie.api.v1.SnapshotKind;
import dev.kelpie.teleport.pkg.BlobRef;
import dev.kelpie.teleport.pkg.PackageKind;
import dev.kelpie.teleport.pkg.PackageManifest;

/** Packages between the teleport library and the API. */
final class PackageMapper {

    private PackageMapper() {}

    static PackageSummary toProto(PackageManifest m, String store) {
        PackageSummary.Builder b = PackageSummary.newBuilder().setId(m.id()).setKind(toProto(m.kind()))
                .setImageVersion(m.baseImage().version()).setArch(m.baseImage().arch())
                .setHypervisor(m.platform().describeHypervisor()).setSourceSandboxId(m.sourceSandbox().id())
                .setCreatedAtUnixMs(m.createdAtUnixMs()).setSizeBytes(m.storedSizeBytes()).putAllLabels(m.labels())
                .setStore(store).setFormatVersion(m.formatVersion());
        for (BlobRef blob : m.blobs()) {
            b.addBlobs(PackageBlob.newBuilder().setName(blob.name()).setSizeBytes(blob.sizeBytes())
                    .setSha256(blob.sha256()).setCompression(blob.compression())
                    .setUncompressedSizeBytes(blob.uncompressedSizeBytes()));
        }
        return b.build();
    }

    static SnapshotKind toProto(PackageKind kind) {
        return kind == PackageKind.VM ? SnapshotKind.SNAPSHOT_KIND_VM : SnapshotKind.SNAPSHOT_KIND_CHECKPOINT;
    }

    /** Unspecified means checkpoint, the kind that restores anywhere. */
    static PackageKind fromProto(SnapshotKind kind) {
        return switch (kind) {
            case SNAPSHOT_KIND_VM -> PackageKind.VM;
            case SNAPSHOT_KIND_CHECKPOINT, SNAPSHOT_KIND_UNSPECIFIED -> PackageKind.CHECKPOINT;
            default -> throw new InvalidRequestException("unknown snapshot kind " + kind);
        };
    }
}
