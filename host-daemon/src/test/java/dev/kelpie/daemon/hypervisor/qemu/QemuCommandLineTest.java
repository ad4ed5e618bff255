package dev.kelpie.daemon.hypervisor.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.daemon.hypervisor.VmPlatform;
import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class QemuCommandLineTest {

    private static QemuVmSpec spec(String arch, Accelerator accel) {
        Path run = Path.of("/run/kelpie/vm/sb1");
        return new QemuVmSpec(arch, accel, 2, 512, Path.of("/img/vmlinux"), "console=ttyS0 root=/dev/vda ro",
                Path.of("/img/rootfs.ext4"), run.resolve("rw.ext4"), run.resolve("agent.sock"), run.resolve("qmp.sock"),
                run.resolve("console.log"), run.resolve("qemu.pid"), run.resolve("qemu.log"));
    }

    @Test
    void x86UnderTcgRunsWithoutAcpiAndWithEveryDevice() {
        assertEquals(List.of("qemu-system-x86_64", "-M", "microvm,rtc=on,acpi=off", "-accel", "tcg", "-cpu", "max",
                "-smp", "2", "-m", "512", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                "-pidfile", "/run/kelpie/vm/sb1/qemu.pid", "-D", "/run/kelpie/vm/sb1/qemu.log",
                "-chardev", "file,id=console,path=/run/kelpie/vm/sb1/console.log", "-serial", "chardev:console",
                "-qmp", "unix:/run/kelpie/vm/sb1/qmp.sock,server=on,wait=off",
                "-kernel", "/img/vmlinux", "-append", "console=ttyS0 root=/dev/vda ro acpi=off reboot=t",
                "-drive", "id=root,file=/img/rootfs.ext4,format=raw,if=none,readonly=on",
                "-device", "virtio-blk-device,drive=root",
                "-drive", "id=rw,file=/run/kelpie/vm/sb1/rw.ext4,format=raw,if=none",
                "-device", "virtio-blk-device,drive=rw",
                "-device", "virtio-rng-device",
                "-device", "virtio-serial-device",
                "-chardev", "socket,id=agent,path=/run/kelpie/vm/sb1/agent.sock,server=on,wait=off",
                "-device", "virtserialport,chardev=agent,name=kelpie.agent"),
                QemuCommandLine.build("qemu-system-x86_64", spec("x86_64", Accelerator.TCG)));
    }

    @Test
    void x86UnderKvmKeepsAcpi() {
        List<String> argv = QemuCommandLine.build("qemu-system-x86_64", spec("x86_64", Accelerator.KVM));
        assertTrue(argv.contains("microvm,rtc=on,acpi=on"), argv.toString());
        assertTrue(argv.contains("console=ttyS0 root=/dev/vda ro"), argv.toString());
    }

    @Test
    void aarch64UsesTheVirtBoardAndItsConsole() {
        QemuVmSpec s = new QemuVmSpec("aarch64", Accelerator.TCG, 1, 256, Path.of("/img/Image"), "root=/dev/vda ro",
                Path.of("/r"), Path.of("/w"), Path.of("/a"), Path.of("/q"), Path.of("/c"), Path.of("/p"), Path.of("/l"));
        List<String> argv = QemuCommandLine.build("qemu-system-aarch64", s);
        assertEquals(List.of("qemu-system-aarch64", "-M", "virt", "-accel", "tcg", "-cpu", "cortex-a57"), argv.subList(0, 7));
        assertTrue(argv.contains("root=/dev/vda ro console=ttyAMA0"), argv.toString());
    }

    @Test
    void anIncomingVmHasTheBootCommandLineAndWaitsForItsStateOverQmp() {
        for (Accelerator accel : List.of(Accelerator.TCG, Accelerator.KVM)) {
            QemuVmSpec s = spec("x86_64", accel);
            List<String> boot = QemuCommandLine.build("qemu-system-x86_64", s);
            List<String> incoming = QemuCommandLine.incoming("qemu-system-x86_64", s);
            // A saved state loads only into the same devices: everything before -incoming must match the boot exactly.
            assertEquals(boot, incoming.subList(0, boot.size()));
            assertEquals(List.of("-incoming", "defer"), incoming.subList(boot.size(), incoming.size()));
        }
    }

    @Test
    void thePlatformNamesTheMachineAndCpuTheCommandLineUses() {
        for (String arch : List.of("x86_64", "aarch64")) {
            for (Accelerator accel : Accelerator.values()) {
                QemuVmSpec s = new QemuVmSpec(arch, accel, 1, 256, Path.of("/k"), "", Path.of("/r"), Path.of("/w"),
                        Path.of("/a"), Path.of("/q"), Path.of("/c"), Path.of("/p"), Path.of("/l"));
                List<String> argv = QemuCommandLine.build("qemu", s);
                VmPlatform platform = QemuCommandLine.platform("7.2.22", arch, accel);
                assertEquals(new VmPlatform("qemu", "7.2.22", argv.get(argv.indexOf("-M") + 1),
                        argv.get(argv.indexOf("-cpu") + 1), arch), platform, arch + " " + accel);
            }
        }
        assertEquals("microvm,rtc=on,acpi=off", QemuCommandLine.platform("7.2.22", "x86_64", Accelerator.TCG).machineType());
        assertEquals("cortex-a57", QemuCommandLine.platform("7.2.22", "aarch64", Accelerator.TCG).cpuModel());
    }

    @Test
    void rejectsImpossibleShapes() {
        assertThrows(IllegalArgumentException.class, () -> new QemuVmSpec("x86_64", Accelerator.TCG, 0, 256,
                Path.of("/k"), "", Path.of("/r"), Path.of("/w"), Path.of("/a"), Path.of("/q"), Path.of("/c"), Path.of("/p"),
                Path.of("/l")));
        assertThrows(IllegalArgumentException.class, () -> QemuCommandLine.build("qemu", new QemuVmSpec("riscv64",
                Accelerator.TCG, 1, 256, Path.of("/k"), "", Path.of("/r"), Path.of("/w"), Path.of("/a"), Path.of("/q"),
                Path.of("/c"), Path.of("/p"), Path.of("/l"))));
    }
}
