package dev.kelpie.teleport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.teleport.pkg.BaseImageRef;
import dev.kelpie.teleport.pkg.BlobRef;
import dev.kelpie.teleport.pkg.PackageKind;
import dev.kelpie.teleport.pkg.PackageManifest;
import dev.kelpie.teleport.pkg.SourceOciImage;
import dev.kelpie.teleport.pkg.SourceSandbox;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A checkpoint of an OCI sandbox restores onto its digest; another digest of its repository only when asked. */
class RestoreGateOciTest {

    private static final String DIGEST = "sha256:" + "1".repeat(64);
    private static final String OTHER = "sha256:" + "2".repeat(64);
    private static final String REPO = "registry:5000/team/tool";

    private static PackageManifest manifest(SourceOciImage oci) {
        return new PackageManifest(PackageManifest.FORMAT_VERSION, "pkg-1", PackageKind.CHECKPOINT,
                new BaseImageRef("1.2.3", "x86_64", RestoreGateTest.KERNEL, RestoreGateTest.ROOTFS), RestoreGateTest.QEMU,
                1L, new SourceSandbox("sb", 1, 256, 0, Map.of(), Map.of(), 0, 0, "/workspace", null, oci), Map.of(),
                List.of(new BlobRef("workspace.tar.zst", 1, "c".repeat(64), "zstd", 1)));
    }

    private static final PackageManifest OCI = manifest(new SourceOciImage(REPO + ":1", DIGEST, REPO));

    @Test
    void theSameDigestRestoresSilently() {
        assertEquals(List.of(), RestoreGate.checkOciImage(OCI, DIGEST, REPO, false));
    }

    @Test
    void anotherDigestOfTheRepositoryNeedsTheFlagAndThenWarnsNamingBoth() {
        var e = assertThrows(RestoreRejectedException.class, () -> RestoreGate.checkOciImage(OCI, OTHER, REPO, false));
        assertTrue(e.getMessage().contains("accept_other_oci_digest") && e.getMessage().contains(DIGEST), e.getMessage());
        List<String> warnings = RestoreGate.checkOciImage(OCI, OTHER, REPO, true);
        assertEquals(1, warnings.size());
        assertTrue(warnings.get(0).contains(OTHER) && warnings.get(0).contains(DIGEST), warnings.get(0));
    }

    @Test
    void anotherRepositoryOrOurOwnRootIsRefusedEvenWithTheFlag() {
        assertThrows(RestoreRejectedException.class, () -> RestoreGate.checkOciImage(OCI, OTHER, "registry:5000/x", true));
        assertThrows(RestoreRejectedException.class, () -> RestoreGate.checkOciImage(OCI, "", "", true));
        PackageManifest plain = manifest(null);
        assertEquals(List.of(), RestoreGate.checkOciImage(plain, "", "", false));
        assertThrows(RestoreRejectedException.class, () -> RestoreGate.checkOciImage(plain, DIGEST, REPO, true));
    }

    private static PackageManifest vmPackage(String rootSha256) {
        return new PackageManifest(PackageManifest.FORMAT_VERSION, "pkg-2", PackageKind.VM,
                new BaseImageRef("1.2.3", "x86_64", RestoreGateTest.KERNEL, RestoreGateTest.ROOTFS), RestoreGateTest.QEMU,
                1L, new SourceSandbox("sb", 1, 256, 0, Map.of(), Map.of(), 0, 0, "/workspace", null,
                        new SourceOciImage(REPO + ":1", DIGEST, REPO, rootSha256)), Map.of(),
                List.of(new BlobRef("vm-memory.zst", 1, "c".repeat(64), "zstd", 1)));
    }

    @Test
    void aVmPackageResumesOnlyOnTheVeryRootItBootedAndSaysBothHashes() {
        String root = "a".repeat(64);
        String other = "b".repeat(64);
        RestoreGate.checkOciRoot(vmPackage(root), root);
        var e = assertThrows(RestoreRejectedException.class, () -> RestoreGate.checkOciRoot(vmPackage(root), other));
        assertTrue(e.getMessage().contains(root) && e.getMessage().contains(other)
                && e.getMessage().contains("checkpoint"), e.getMessage());
        RestoreGate.checkOciRoot(OCI, other); // a checkpoint takes any root of its digest
    }
}
