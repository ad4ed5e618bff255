package dev.kelpie.teleport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.teleport.pkg.BaseImageRef;
import dev.kelpie.teleport.pkg.BlobRef;
import dev.kelpie.teleport.pkg.PackageKind;
import dev.kelpie.teleport.pkg.PackageManifest;
import dev.kelpie.teleport.pkg.PlatformRef;
import dev.kelpie.teleport.pkg.SourceSandbox;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RestoreGateTest {

    static final String KERNEL = "a".repeat(64);
    static final String ROOTFS = "b".repeat(64);
    static final PlatformRef QEMU = new PlatformRef("qemu", "7.2.22", "microvm,rtc=on,acpi=off", "max");

    static PackageManifest manifest(PackageKind kind, String version) {
        return new PackageManifest(PackageManifest.FORMAT_VERSION, "pkg-1", kind,
                new BaseImageRef(version, "x86_64", KERNEL, ROOTFS), QEMU, 1L,
                new SourceSandbox("sb", 1, 256, 0, Map.of(), Map.of(), 0, 0, "/workspace", null), Map.of(),
                List.of(new BlobRef("workspace.tar.zst", 1, "c".repeat(64), "zstd", 1)));
    }

    static RestoreGate.Target target(String version) {
        return new RestoreGate.Target(version, "x86_64", KERNEL, ROOTFS, QEMU);
    }

    @Test
    void checkpointOnTheSameVersionRestoresSilently() {
        assertEquals(List.of(), RestoreGate.check(manifest(PackageKind.CHECKPOINT, "1.2.3"), target("1.2.3")));
    }

    @Test
    void checkpointWithAnotherPatchRestoresWithAWarningNamingBoth() {
        List<String> warnings = RestoreGate.check(manifest(PackageKind.CHECKPOINT, "1.2.3"), target("1.2.5"));
        assertEquals(List.of("image PATCH differs: package 1.2.3, restored on 1.2.5"), warnings);
    }

    @Test
    void checkpointWithAnotherMinorOrMajorIsRejectedNamingBoth() {
        for (String other : List.of("1.3.3", "2.2.3", "1.1.0")) {
            RestoreRejectedException e = assertThrows(RestoreRejectedException.class,
                    () -> RestoreGate.check(manifest(PackageKind.CHECKPOINT, "1.2.3"), target(other)));
            assertTrue(e.getMessage().contains("1.2.3") && e.getMessage().contains(other), e.getMessage());
        }
    }

    @Test
    void garbageVersionsAreInvalidNotMismatched() {
        assertThrows(InvalidImageVersionException.class,
                () -> RestoreGate.check(manifest(PackageKind.CHECKPOINT, "1.2.3"), target("banana")));
        assertThrows(InvalidImageVersionException.class,
                () -> RestoreGate.check(manifest(PackageKind.CHECKPOINT, "1.2"), target("1.2.3")));
        assertThrows(InvalidImageVersionException.class,
                () -> RestoreGate.checkVersions(manifest(PackageKind.VM, "x.y.z"), "1.2.3"));
    }

    @Test
    void vmPackageHasNoPatchAllowance() {
        RestoreRejectedException e = assertThrows(RestoreRejectedException.class,
                () -> RestoreGate.check(manifest(PackageKind.VM, "1.2.3"), target("1.2.4")));
        assertTrue(e.getMessage().contains("1.2.3") && e.getMessage().contains("1.2.4"), e.getMessage());
        assertTrue(e.getMessage().contains("checkpoint"), e.getMessage());
        assertEquals(List.of(), RestoreGate.check(manifest(PackageKind.VM, "1.2.3"), target("1.2.3")));
    }

    @Test
    void vmPackageOnAnotherArchHypervisorMachineOrImageIsRejectedSuggestingACheckpoint() {
        PackageManifest vm = manifest(PackageKind.VM, "1.2.3");
        List<RestoreGate.Target> others = List.of(
                new RestoreGate.Target("1.2.3", "aarch64", KERNEL, ROOTFS, QEMU),
                new RestoreGate.Target("1.2.3", "x86_64", KERNEL, ROOTFS, new PlatformRef("libkrun", "1.9", "microvm", "host")),
                new RestoreGate.Target("1.2.3", "x86_64", KERNEL, ROOTFS, new PlatformRef("qemu", "8.2.0", QEMU.machineType(), "max")),
                new RestoreGate.Target("1.2.3", "x86_64", KERNEL, ROOTFS, new PlatformRef("qemu", "7.2.22", "virt", "max")),
                new RestoreGate.Target("1.2.3", "x86_64", KERNEL, ROOTFS, new PlatformRef("qemu", "7.2.22", QEMU.machineType(), "host")),
                new RestoreGate.Target("1.2.3", "x86_64", "d".repeat(64), ROOTFS, QEMU),
                new RestoreGate.Target("1.2.3", "x86_64", KERNEL, "e".repeat(64), QEMU));
        for (RestoreGate.Target other : others) {
            RestoreRejectedException e = assertThrows(RestoreRejectedException.class, () -> RestoreGate.check(vm, other),
                    other.toString());
            assertTrue(e.getMessage().contains("checkpoint"), e.getMessage());
        }
    }

    @Test
    void checkpointIgnoresArchAndPlatform() {
        PackageManifest checkpoint = manifest(PackageKind.CHECKPOINT, "1.2.3");
        assertEquals(List.of(), RestoreGate.check(checkpoint, new RestoreGate.Target("1.2.3", "aarch64", "", "",
                new PlatformRef("libkrun", "1.9", "microvm", "host"))));
    }

    @Test
    void checkTargetLeavesVersionsToCheckVersionsAndJudgesOnlyWhereAVmPackageLands() {
        PackageManifest vm = manifest(PackageKind.VM, "1.2.3");
        RestoreGate.Target unparsable = new RestoreGate.Target("not a version", "x86_64", KERNEL, ROOTFS, QEMU);

        RestoreGate.checkTarget(vm, unparsable);
        assertThrows(InvalidImageVersionException.class, () -> RestoreGate.check(vm, unparsable));
        assertThrows(RestoreRejectedException.class, () -> RestoreGate.checkTarget(vm,
                new RestoreGate.Target("1.2.3", "aarch64", KERNEL, ROOTFS, QEMU)));
        RestoreGate.checkTarget(manifest(PackageKind.CHECKPOINT, "1.2.3"),
                new RestoreGate.Target("1.2.3", "aarch64", "", "", new PlatformRef("libkrun", "1.9", "microvm", "host")));
    }
}
