package dev.kelpie.daemon.hypervisor.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Set;
import org.junit.jupiter.api.Test;

class QemuProbeTest {

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
    }
}
