package dev.kelpie.teleport;

import dev.kelpie.teleport.pkg.PackageKind;
import dev.kelpie.teleport.pkg.PackageManifest;
import dev.kelpie.teleport.pkg.SourceOciImage;
import dev.kelpie.teleport.pkg.PlatformRef;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Decides whether a package may be restored onto a target image and platform — before anything is created.
 *
 * <p>A {@code checkpoint} carries files and settings, which any image of the same MAJOR.MINOR understands: other
 * MAJOR.MINOR is refused, another PATCH restores with a warning. A {@code vm} package carries guest memory that
 * expects the very bytes of its kernel and root filesystem, and device and CPU state that only the same VMM build,
 * machine type and CPU model can load: any difference is refused, with no PATCH allowance, and the message says that
 * a checkpoint would move.
 */
public final class RestoreGate {

    private static final String CHECKPOINT_SUGGESTION =
            "; take a checkpoint snapshot (kind checkpoint) to move this sandbox there";

    private RestoreGate() {}

    /**
     * Where a package would land.
     *
     * @param imageVersion the image the restore would boot (the package's own unless overridden)
     */
    public record Target(String imageVersion, String arch, String kernelSha256, String rootfsSha256, PlatformRef platform) {

        public Target {
            Objects.requireNonNull(imageVersion, "imageVersion");
            Objects.requireNonNull(arch, "arch");
            Objects.requireNonNull(platform, "platform");
        }
    }

    /**
     * @return warnings to hand back to the caller (empty when nothing differs)
     * @throws InvalidImageVersionException when either version is not an image version
     * @throws RestoreRejectedException when the target cannot take the package, naming both sides
     */
    public static List<String> check(PackageManifest manifest, Target target) {
        List<String> warnings = checkVersions(manifest, target.imageVersion());
        checkTarget(manifest, target);
        return warnings;
    }

    /**
     * The version part of {@link #check} alone, which needs no image at hand: a restore asks it before looking for
     * the target image, so a refused version is reported as such rather than as a missing image.
     */
    public static List<String> checkVersions(PackageManifest manifest, String targetImageVersion) {
        ImageVersion packaged = ImageVersion.parse(manifest.baseImage().version());
        ImageVersion onto = ImageVersion.parse(targetImageVersion);
        if (manifest.kind() == PackageKind.VM) {
            if (!packaged.equals(onto)) {
                throw new RestoreRejectedException("image version mismatch: the vm package was taken on " + packaged
                        + " and cannot be restored on " + onto + " (guest memory resumes only on the very same image;"
                        + " no PATCH allowance for vm packages)" + CHECKPOINT_SUGGESTION);
            }
            return List.of();
        }
        return checkCheckpoint(packaged, onto);
    }

    /**
     * The rest of {@link #check} once {@link #checkVersions} has passed for {@code target}'s image version, which it
     * does not parse again: a vm package's architecture, VMM, machine and image bytes. A checkpoint needs none of them.
     *
     * @throws RestoreRejectedException when the target cannot take the package, naming both sides
     */
    public static void checkTarget(PackageManifest manifest, Target target) {
        if (manifest.kind() == PackageKind.VM) {
            checkVmTarget(manifest, target);
        }
    }

    private static List<String> checkCheckpoint(ImageVersion packaged, ImageVersion onto) {
        List<String> warnings = new ArrayList<>();
        switch (packaged.checkpointCompatibilityWith(onto)) {
            case INCOMPATIBLE -> throw new RestoreRejectedException("image version mismatch: the package was taken on "
                    + packaged + " and cannot be restored on " + onto + " (MAJOR.MINOR must match: "
                    + packaged.major() + "." + packaged.minor() + " vs " + onto.major() + "." + onto.minor() + ")");
            case PATCH_DIFFERS -> warnings.add("image PATCH differs: package " + packaged + ", restored on " + onto);
            case SAME_RELEASE -> {
                if (!packaged.suffix().equals(onto.suffix())) {
                    warnings.add("image build differs: package " + packaged + ", restored on " + onto);
                }
            }
        }
        return warnings;
    }

    private static void checkVmTarget(PackageManifest manifest, Target target) {
        if (!manifest.baseImage().arch().equals(target.arch())) {
            throw new RestoreRejectedException("vm package is for " + manifest.baseImage().arch()
                    + " and the restore asks for a " + target.arch() + " guest: VM state never crosses architectures"
                    + CHECKPOINT_SUGGESTION);
        }
        PlatformRef from = manifest.platform();
        PlatformRef to = target.platform();
        if (!from.hypervisor().equals(to.hypervisor()) || !from.hypervisorVersion().equals(to.hypervisorVersion())) {
            throw new RestoreRejectedException("vm package was taken under " + from.describeHypervisor()
                    + " and this host runs " + to.describeHypervisor() + ": VM state loads only under the same VMM build"
                    + CHECKPOINT_SUGGESTION);
        }
        if (!from.machineType().equals(to.machineType()) || !from.cpuModel().equals(to.cpuModel())) {
            throw new RestoreRejectedException("vm package was taken on machine " + from.machineType() + " with CPU "
                    + from.cpuModel() + " and this host offers machine " + to.machineType() + " with CPU "
                    + to.cpuModel() + CHECKPOINT_SUGGESTION);
        }
        if (!manifest.baseImage().kernelSha256().equals(target.kernelSha256())
                || !manifest.baseImage().rootfsSha256().equals(target.rootfsSha256())) {
            throw new RestoreRejectedException("image " + target.imageVersion() + " here is not the image the vm package"
                    + " was taken on: its kernel or root filesystem differs (sha256 " + abbreviated(target.kernelSha256())
                    + "/" + abbreviated(target.rootfsSha256()) + " here, " + abbreviated(manifest.baseImage().kernelSha256())
                    + "/" + abbreviated(manifest.baseImage().rootfsSha256()) + " in the package)" + CHECKPOINT_SUGGESTION);
        }
    }

    private static String abbreviated(String sha256) {
        return sha256 == null || sha256.length() < 12 ? String.valueOf(sha256) : sha256.substring(0, 12);
    }

    /**
     * A checkpoint of a sandbox from an OCI image restores onto the same manifest digest; onto another digest only
     * of the same repository and only when the caller asks, with a warning naming both. A sandbox on our own root
     * never becomes one on an OCI image, nor the reverse.
     *
     * @param targetDigest the digest the restore would boot; empty for the base image's own root
     * @return the warnings for the caller
     */
    public static List<String> checkOciImage(PackageManifest manifest, String targetDigest, String targetRepository,
            boolean allowOtherDigest) {
        SourceOciImage packaged = manifest.sourceSandbox().ociImage();
        if (packaged == null) {
            if (!targetDigest.isEmpty()) {
                throw new RestoreRejectedException("the package's sandbox ran the base image's own root, not an OCI"
                        + " image; restore it without spec_overrides.oci_image");
            }
            return List.of();
        }
        if (packaged.manifestDigest().equals(targetDigest)) {
            return List.of();
        }
        if (!packaged.repository().equals(targetRepository)) {
            throw new RestoreRejectedException("the package's sandbox ran OCI image " + packaged.pinnedReference()
                    + "; " + targetRepository + "@" + targetDigest + " is another repository");
        }
        if (!allowOtherDigest) {
            throw new RestoreRejectedException("the package's sandbox ran OCI image " + packaged.pinnedReference()
                    + ", not " + targetDigest + "; set accept_other_oci_digest to restore onto another digest of "
                    + packaged.repository());
        }
        return List.of("restored onto OCI image " + targetRepository + "@" + targetDigest + " instead of "
                + packaged.manifestDigest() + ", which the package's sandbox ran");
    }

    /**
     * A {@code vm} package of a sandbox from an OCI image resumes a VM whose memory caches blocks of the root it
     * booted: only the very same root (by sha256) may be under it. Roots are built reproducibly, so the same digest
     * and agent give the same root on any host with e2fsprogs 1.47.1+; anything else (another digest, another agent,
     * an older mke2fs) is refused, naming both hashes. A checkpoint has no such need.
     *
     * @param targetRootSha256 the sha256 of the root the restore would boot; empty for the base image's own root
     */
    public static void checkOciRoot(PackageManifest manifest, String targetRootSha256) {
        SourceOciImage packaged = manifest.sourceSandbox().ociImage();
        if (manifest.kind() != PackageKind.VM || packaged == null) {
            return;
        }
        if (!packaged.rootSha256().equals(targetRootSha256)) {
            throw new RestoreRejectedException("this vm package's VM booted OCI image " + packaged.pinnedReference()
                    + " from a root with sha256 " + packaged.rootSha256() + ", and the root here has sha256 "
                    + (targetRootSha256.isEmpty() ? "(none)" : targetRootSha256) + ": a saved VM resumes only on the"
                    + " very root it booted (built here from another image digest, another agent or an e2fsprogs"
                    + " older than 1.47.1)" + CHECKPOINT_SUGGESTION);
        }
    }
}
