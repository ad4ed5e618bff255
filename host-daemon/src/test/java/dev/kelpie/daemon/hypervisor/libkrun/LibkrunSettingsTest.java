package dev.kelpie.daemon.hypervisor.libkrun;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import dev.kelpie.daemon.hypervisor.probe.HostPlatform;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LibkrunSettingsTest {

    @TempDir
    Path dir;

    @Test
    void aBareNameIsFoundInTheLibraryDirectoriesSoTheProbeLoadsWhatRunnersWill() throws Exception {
        Path brew = Files.createDirectories(dir.resolve("homebrew/lib"));
        Files.writeString(brew.resolve("libkrun.1.dylib"), "");
        LibkrunSettings mac = LibkrunSettings.of(Optional.empty(), Optional.of(List.of(dir.resolve("none"), brew)), 2,
                new HostPlatform("macos", "aarch64"));
        assertEquals(brew.resolve("libkrun.1.dylib").toString(), mac.library());
        assertEquals(Accelerator.HVF, mac.accelerator());
    }

    @Test
    void defaultsFollowThePlatformAndAPathIsTakenAsGiven() {
        LibkrunSettings mac = LibkrunSettings.of(Optional.empty(), Optional.empty(), 2, new HostPlatform("macos", "aarch64"));
        assertEquals(LibkrunSettings.HOMEBREW_LIBRARY_DIRS, mac.libraryPath());
        LibkrunSettings linux = LibkrunSettings.of(Optional.of("/opt/krun/libkrun.so.1"), Optional.empty(), 3,
                new HostPlatform("linux", "x86_64"));
        assertEquals("/opt/krun/libkrun.so.1", linux.library());
        assertEquals(List.of(), linux.libraryPath());
        assertEquals(Accelerator.KVM, linux.accelerator());
        assertEquals("libkrun.so.1", LibkrunSettings.of(Optional.empty(), Optional.empty(), 2,
                new HostPlatform("linux", "x86_64")).library(), "not found in any directory: left to the loader");
    }
}
