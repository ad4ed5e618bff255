package dev.kelpie.daemon.hypervisor.qemu;

import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import dev.kelpie.daemon.hypervisor.probe.QemuMachine;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds the qemu command line for a sandbox VM. Pure: no I/O, so the exact argv is pinned by tests.
 *
 * <p>Devices are virtio-mmio (microvm on x86_64, virt on aarch64): the read-only root as the first block device
 * ({@code vda}), the writable disk as the second ({@code vdb}), always a virtio-rng (without one, early
 * {@code getrandom()} can block for a long time), and the agent's virtio-serial port {@code kelpie.agent} backed by a
 * Unix socket that the daemon connects to. The console and QMP go to files and sockets, never to the daemon's pipes,
 * so the VM survives the daemon.
 */
public final class QemuCommandLine {

    /** The guest name of the agent's port: /dev/virtio-ports/kelpie.agent. */
    public static final String AGENT_PORT_NAME = "kelpie.agent";

    private QemuCommandLine() {}

    public static List<String> build(String qemuBinary, QemuVmSpec spec) {
        QemuMachine machine = QemuMachine.forArch(spec.arch());
        List<String> argv = new ArrayList<>(List.of(qemuBinary, "-M", machineOption(spec), "-accel",
                spec.accelerator().qemuName()));
        argv.addAll(cpu(spec));
        argv.addAll(List.of("-smp", Integer.toString(spec.vcpuCount()), "-m", Integer.toString(spec.memoryMib()),
                "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                "-pidfile", spec.pidFile().toString(),
                "-chardev", "file,id=console,path=" + spec.consoleLog(), "-serial", "chardev:console",
                "-qmp", "unix:" + spec.qmpSocket() + ",server=on,wait=off",
                "-kernel", spec.kernel().toString(), "-append", kernelCmdline(spec, machine),
                "-drive", "id=root,file=" + spec.rootfs() + ",format=raw,if=none,readonly=on",
                "-device", "virtio-blk-device,drive=root",
                "-drive", "id=rw,file=" + spec.writableDisk() + ",format=raw,if=none",
                "-device", "virtio-blk-device,drive=rw",
                "-device", "virtio-rng-device",
                "-device", "virtio-serial-device",
                "-chardev", "socket,id=agent,path=" + spec.agentSocket() + ",server=on,wait=off",
                "-device", "virtserialport,chardev=agent,name=" + AGENT_PORT_NAME));
        return List.copyOf(argv);
    }

    /**
     * Under TCG an x86 guest cannot calibrate its TSC, and microvm with ACPI offers no other clock: the kernel hangs.
     * Without ACPI the PIT drives the tick and virtio-mmio devices come from the command line QEMU adds.
     */
    private static boolean x86WithoutAcpi(QemuVmSpec spec) {
        return spec.arch().equals("x86_64") && spec.accelerator() == Accelerator.TCG;
    }

    private static String machineOption(QemuVmSpec spec) {
        if (spec.arch().equals("x86_64")) {
            return "microvm,rtc=on,acpi=" + (x86WithoutAcpi(spec) ? "off" : "on");
        }
        return QemuMachine.forArch(spec.arch()).machineType();
    }

    private static List<String> cpu(QemuVmSpec spec) {
        if (spec.arch().equals("aarch64")) {
            return List.of("-cpu", spec.accelerator() == Accelerator.TCG ? "cortex-a57" : "host");
        }
        return List.of("-cpu", "max");
    }

    private static String kernelCmdline(QemuVmSpec spec, QemuMachine machine) {
        String cmdline = spec.kernelCmdline().strip();
        if (!cmdline.contains("console=")) {
            cmdline += " console=" + machine.consoleDevice();
        }
        // A microvm has no reset device: a triple fault (reboot=t) ends qemu at once under -no-reboot.
        return x86WithoutAcpi(spec) ? cmdline + " acpi=off reboot=t" : cmdline;
    }
}
