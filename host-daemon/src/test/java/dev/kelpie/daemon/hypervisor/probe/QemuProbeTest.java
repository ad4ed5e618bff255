package dev.kelpie.daemon.hypervisor.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class QemuProbeTest {

    private static final HostPlatform LINUX = new HostPlatform("linux", "x86_64");
    private static final String QEMU = "/usr/bin/qemu-system-x86_64";

    @TempDir
    Path dir;

    /** Boots nothing: records which accelerators were tried and says each booted. */
    private final List<Accelerator> booted = new CopyOnWriteArrayList<>();
    private final BootProbe recordingBoot = (binary, machine, accelerator, kernel) -> {
        booted.add(accelerator);
        return new ProbeResult(ProbeStatus.AVAILABLE, "booted a Linux kernel in 1 ms", Duration.ofMillis(1));
    };

    private QemuProbe probe(ProbeCache cache) throws IOException {
        Assumptions.assumeTrue(Files.isExecutable(Path.of(QEMU)), QEMU + " (scripts/packages.txt installs it)");
        Path devKvm = Files.writeString(dir.resolve("kvm"), ""); // opens read/write, like a /dev/kvm that hangs
        return new QemuProbe(new CommandRunner(), recordingBoot, cache, LINUX, devKvm);
    }

    @Test
    void aConfiguredAcceleratorIsTheOnlyOneBootTested() throws IOException {
        Path kernel = Files.writeString(dir.resolve("kernel"), "not really a kernel");
        BackendReport report = probe(new ProbeCache(dir.resolve("cache"), new ObjectMapper(), "boot-1"))
                .probe(Optional.of(QEMU), Optional.of(kernel), Optional.of(Accelerator.TCG));

        assertEquals(List.of(Accelerator.TCG), booted, "KVM was not waited for");
        assertEquals(ProbeStatus.AVAILABLE, report.accelerator(Accelerator.TCG).orElseThrow().result().status());
        ProbeResult kvm = report.accelerator(Accelerator.KVM).orElseThrow().result();
        assertEquals(ProbeStatus.UNTESTED, kvm.status());
        assertEquals("not probed: kelpie.qemu.accelerator=tcg", kvm.reason());
    }

    @Test
    void verdictsAreSharedByTheDaemonsOfOneBootAndForgottenAfterAReboot() throws IOException {
        Path kernel = Files.writeString(dir.resolve("kernel"), "not really a kernel");
        Path sharedCache = dir.resolve("cache");
        probe(new ProbeCache(sharedCache, new ObjectMapper(), "boot-1"))
                .probe(Optional.of(QEMU), Optional.of(kernel), Optional.empty());
        assertEquals(List.of(Accelerator.KVM, Accelerator.TCG), booted);

        // Another daemon (its own state directory) on the same boot: nothing is booted again.
        BackendReport second = probe(new ProbeCache(sharedCache, new ObjectMapper(), "boot-1"))
                .probe(Optional.of(QEMU), Optional.of(kernel), Optional.empty());
        assertEquals(2, booted.size(), "the second daemon reused both verdicts");
        assertTrue(second.accelerator(Accelerator.KVM).orElseThrow().result().reason().endsWith("(cached)"));

        // After a reboot KVM may have changed: probed again, and the old boot's verdicts are dropped.
        probe(new ProbeCache(sharedCache, new ObjectMapper(), "boot-2"))
                .probe(Optional.of(QEMU), Optional.of(kernel), Optional.empty());
        assertEquals(4, booted.size(), "a new boot probes again");
        assertTrue(Files.readString(sharedCache.resolve(ProbeCache.FILE_NAME)).contains("boot-2|"));
        assertTrue(!Files.readString(sharedCache.resolve(ProbeCache.FILE_NAME)).contains("boot-1|"),
                "verdicts of the last boot are gone");
    }

    @Test
    void theBootIdIsReadFromTheHost() {
        String id = HostBootId.current(LINUX, new CommandRunner());
        if (Files.isReadable(HostBootId.LINUX_BOOT_ID)) {
            assertTrue(id.matches("[0-9a-f-]{36}"), id);
        }
    }

    @Test
    void readsTheVersionFromQemusBanner() {
        assertEquals("7.2.22", QemuProbe.parseVersion("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)\n"
                + "Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n"));
        assertEquals("9.1.0", QemuProbe.parseVersion("QEMU emulator version 9.1.0\n"));
    }

    @Test
    void readsCompiledInAccelerators() {
        assertEquals(Set.of("kvm", "tcg"), QemuProbe.parseAccelerators("Accelerators supported in QEMU binary:\ntcg\nkvm\n"));
        assertEquals(Set.of("hvf", "tcg"), QemuProbe.parseAccelerators("Accelerators supported in QEMU binary:\nhvf\ntcg\n"));
    }

    @Test
    void picksMachineAndConsolePerGuestArch() {
        assertEquals("microvm", QemuMachine.forArch("x86_64").machineType());
        assertEquals("ttyAMA0", QemuMachine.forArch("aarch64").consoleDevice());
        assertEquals(java.util.List.of("-cpu", "max"), QemuMachine.forArch("aarch64").cpuArgs(Accelerator.TCG));
        // The model sandboxes boot: QEMU 10's default one resets a microvm with ACPI before the kernel prints.
        assertEquals(java.util.List.of("-cpu", "max"), QemuMachine.forArch("x86_64").cpuArgs(Accelerator.TCG));
    }
}
