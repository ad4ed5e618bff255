package dev.kelpie.daemon.hypervisor.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.VmNetwork;
import dev.kelpie.daemon.hypervisor.VmPlatform;
import dev.kelpie.daemon.network.PortForward;
import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class QemuCommandLineTest {

    private static QemuVmSpec spec(String arch, Accelerator accel) {
        Path run = Path.of("/run/kelpie/vm/sb1");
        return new QemuVmSpec(arch, accel, 2, 512, Path.of("/img/vmlinux"), "console=ttyS0 root=/dev/vda ro",
                Path.of("/img/rootfs.ext4"), run.resolve("rw.ext4"), run.resolve("agent.sock"), run.resolve("qmp.sock"),
                run.resolve("console.log"), run.resolve("qemu.pid"), run.resolve("qemu.log"), VmNetwork.NONE, null);
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
                "-device", "virtserialport,chardev=agent,name=kelpie.agent",
                "-device", "virtio-balloon-device,free-page-reporting=on"),
                QemuCommandLine.build("qemu-system-x86_64", spec("x86_64", Accelerator.TCG)));
    }

    @Test
    void guestRamFromAFileTakesTheMachinesDefaultRamIdOwnedOrAPrivateViewOfAReadOnlyFile() {
        Map<QemuRamMapping, String> options = Map.of(QemuRamMapping.OWNED, "share=on",
                // A clone's writes and discards stay in its own anonymous pages; the file is opened read-only.
                QemuRamMapping.PRIVATE_READ_ONLY_FILE, "share=off,readonly=on,rom=off");
        for (QemuRamMapping mapping : QemuRamMapping.values()) {
            QemuVmSpec s = new QemuVmSpec("x86_64", Accelerator.TCG, 1, 256, Path.of("/img/vmlinux"), "root=/dev/vda ro",
                    Path.of("/r"), Path.of("/w"), Path.of("/a"), Path.of("/q"), Path.of("/c"), Path.of("/p"),
                    Path.of("/l"), VmNetwork.NONE, null, Path.of("/dev/shm/k/sb1.ram"), mapping);
            List<String> argv = QemuCommandLine.build("qemu-system-x86_64", s);
            int at = argv.indexOf("-object");
            // The default id keeps the migration stream's RAM block name: packages move between file and anonymous RAM.
            assertEquals(List.of("-object", "memory-backend-file,id=microvm.ram,size=256M,mem-path=/dev/shm/k/sb1.ram,"
                    + options.get(mapping), "-machine", "memory-backend=microvm.ram"), argv.subList(at, at + 4));
            assertTrue(argv.containsAll(List.of("-m", "256")), "the size stays on -m too: " + argv);
        }
        QemuVmSpec arm = new QemuVmSpec("aarch64", Accelerator.TCG, 1, 256, Path.of("/img/Image"), "root=/dev/vda ro",
                Path.of("/r"), Path.of("/w"), Path.of("/a"), Path.of("/q"), Path.of("/c"), Path.of("/p"), Path.of("/l"),
                VmNetwork.NONE, null, Path.of("/x.ram"), QemuRamMapping.OWNED);
        assertTrue(QemuCommandLine.build("qemu-system-aarch64", arm).contains("memory-backend=mach-virt.ram"));
        assertFalse(QemuCommandLine.build("qemu-system-x86_64", spec("x86_64", Accelerator.TCG)).contains("-object"),
                "no RAM file, anonymous memory");
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
                Path.of("/r"), Path.of("/w"), Path.of("/a"), Path.of("/q"), Path.of("/c"), Path.of("/p"), Path.of("/l"), VmNetwork.NONE, null);
        List<String> argv = QemuCommandLine.build("qemu-system-aarch64", s);
        assertEquals(List.of("qemu-system-aarch64", "-M", "virt", "-accel", "tcg", "-cpu", "cortex-a57"), argv.subList(0, 7));
        assertTrue(argv.contains("root=/dev/vda ro console=ttyAMA0"), argv.toString());
        // virt fills its virtio-mmio slots from the top: the device created last is vda, which must be the root.
        int rw = argv.indexOf("virtio-blk-device,drive=rw");
        int root = argv.indexOf("virtio-blk-device,drive=root");
        assertTrue(rw >= 0 && root > rw, argv.toString());
        List<String> x86 = QemuCommandLine.build("qemu-system-x86_64", spec("x86_64", Accelerator.TCG));
        assertTrue(x86.indexOf("virtio-blk-device,drive=root") < x86.indexOf("virtio-blk-device,drive=rw"), x86.toString());
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
                        Path.of("/a"), Path.of("/q"), Path.of("/c"), Path.of("/p"), Path.of("/l"), VmNetwork.NONE, null);
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
                Path.of("/l"), VmNetwork.NONE, null));
        assertThrows(IllegalArgumentException.class, () -> QemuCommandLine.build("qemu", new QemuVmSpec("riscv64",
                Accelerator.TCG, 1, 256, Path.of("/k"), "", Path.of("/r"), Path.of("/w"), Path.of("/a"), Path.of("/q"),
                Path.of("/c"), Path.of("/p"), Path.of("/l"), VmNetwork.NONE, null)));
    }

    private static QemuVmSpec withNetwork(VmNetwork network, Path run) {
        return new QemuVmSpec("x86_64", Accelerator.TCG, 1, 256, Path.of("/k"), "", Path.of("/r"), Path.of("/w"),
                Path.of("/a"), Path.of("/q"), Path.of("/c"), Path.of("/p"), run.resolve("qemu.log"), network,
                new EgressRelay(Path.of("/usr/bin/socat")));
    }

    @Test
    void noNetworkMeansNoNetworkDevice() {
        List<String> argv = QemuCommandLine.build("qemu", spec("x86_64", Accelerator.TCG));
        assertTrue(argv.stream().noneMatch(a -> a.contains("netdev") || a.contains("virtio-net")), argv.toString());
    }

    @Test
    void egressAndForwardsUseARestrictedUserNetworkWithOneRulePerPath() {
        Path run = Path.of("/var/lib/kelpie/run/sb1");
        VmNetwork network = new VmNetwork(run.resolve("egress.sock"),
                List.of(new PortForward(18080, 80), new PortForward(2222, 22)));
        List<String> argv = QemuCommandLine.build("qemu", withNetwork(network, run));
        int netdev = argv.indexOf("-netdev");
        assertEquals("user,id=net0,restrict=on,ipv6=off,net=10.0.2.0/24,host=10.0.2.2"
                + ",guestfwd=tcp:10.0.2.100:3128-cmd:/usr/bin/socat -lf /var/lib/kelpie/run/sb1/egress-relay.log STDIO"
                + " UNIX-CONNECT:/var/lib/kelpie/run/sb1/egress.sock"
                + ",hostfwd=tcp:127.0.0.1:18080-10.0.2.15:80,hostfwd=tcp:127.0.0.1:2222-10.0.2.15:22",
                argv.get(netdev + 1));
        assertEquals(List.of("-device", "virtio-net-device,netdev=net0"), argv.subList(netdev + 2, netdev + 4));
    }

    @Test
    void forwardsWithoutEgressHaveNoRuleOut() {
        Path run = Path.of("/run/sb2");
        List<String> argv = QemuCommandLine.build("qemu", withNetwork(new VmNetwork(null,
                List.of(new PortForward(8080, 80))), run));
        assertEquals("user,id=net0,restrict=on,ipv6=off,net=10.0.2.0/24,host=10.0.2.2,hostfwd=tcp:127.0.0.1:8080-10.0.2.15:80",
                argv.get(argv.indexOf("-netdev") + 1));
    }

    @Test
    void aPathQemuWouldSplitIsRefusedNotMangled() {
        Path run = Path.of("/var/lib/kelpie,x/run/sb1");
        VmException e = assertThrows(VmException.class, () -> QemuCommandLine.build("qemu",
                withNetwork(new VmNetwork(run.resolve("egress.sock"), List.of()), run)));
        assertTrue(e.getMessage().contains("/var/lib/kelpie,x/run/sb1"), e.getMessage());
    }

    @Test
    void aVmNetworkNeedsItsHostPortsPicked() {
        assertThrows(IllegalArgumentException.class, () -> new VmNetwork(null, List.of(new PortForward(0, 80))));
    }
}
