package dev.kelpie.daemon.hypervisor.qemu;

import dev.kelpie.daemon.hypervisor.VmNetwork;
import dev.kelpie.daemon.hypervisor.VmPlatform;
import dev.kelpie.daemon.hypervisor.probe.QemuMachine;
import dev.kelpie.daemon.network.GuestNetwork;
import dev.kelpie.daemon.network.PortForward;
import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds the qemu command line for a sandbox VM. Pure: no I/O, so the exact argv is pinned by tests.
 *
 * <p>Devices are virtio-mmio (microvm on x86_64, virt on aarch64): the read-only root as the first block device
 * ({@code vda}), the writable disk as the second ({@code vdb}), always a virtio-rng (without one, early
 * {@code getrandom()} can block for a long time), a virtio-balloon with free-page reporting (the guest kernel hands
 * pages it freed back to the host, so a sandbox that once used much memory does not hold it for the rest of its life;
 * ADR 0029), and the agent's virtio-serial port {@code kelpie.agent} backed by a Unix socket that the daemon connects
 * to. The console and QMP go to files and sockets, never to the daemon's pipes,
 * so the VM survives the daemon.
 *
 * <p>A sandbox with a network policy gets a virtio-net device on qemu's user-mode stack with {@code restrict=on}: the
 * guest can open no connection of its own, only the ones the rules allow — a {@code guestfwd} from the proxy address
 * to the daemon's egress proxy, and {@code hostfwd}s from host loopback ports. Each VM has its own stack, so sandboxes
 * cannot see each other.
 */
public final class QemuCommandLine {

    /** The guest name of the agent's port: /dev/virtio-ports/kelpie.agent. */
    public static final String AGENT_PORT_NAME = "kelpie.agent";

    private static final String NETDEV_ID = "net0";

    private QemuCommandLine() {}

    /** The user-mode network: no route out but the rules, no IPv6, no DHCP answers the guest needs (the agent sets eth0). */
    static String userNetdev(QemuVmSpec spec) {
        VmNetwork network = spec.network();
        StringBuilder netdev = new StringBuilder("user,id=" + NETDEV_ID + ",restrict=on,ipv6=off,net="
                + GuestNetwork.SUBNET_CIDR + ",host=" + GuestNetwork.VMM_ADDRESS);
        if (network.egressSocket() != null) {
            netdev.append(",guestfwd=tcp:").append(GuestNetwork.PROXY_ADDRESS).append(':').append(GuestNetwork.PROXY_PORT)
                    .append("-cmd:").append(spec.egressRelay().command(network.egressSocket(), spec.qemuLog().getParent()));
        }
        for (PortForward f : network.forwards()) {
            netdev.append(",hostfwd=tcp:127.0.0.1:").append(f.hostPort()).append('-').append(GuestNetwork.GUEST_ADDRESS)
                    .append(':').append(f.guestPort());
        }
        return netdev.toString();
    }

    public static List<String> build(String qemuBinary, QemuVmSpec spec) {
        QemuMachine machine = QemuMachine.forArch(spec.arch());
        List<String> argv = new ArrayList<>(List.of(qemuBinary, "-M", machineType(spec.arch(), spec.accelerator()),
                "-accel", spec.accelerator().qemuName(), "-cpu", cpuModel(spec.arch(), spec.accelerator()),
                "-smp", Integer.toString(spec.vcpuCount()), "-m", Integer.toString(spec.memoryMib()),
                "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                "-pidfile", spec.pidFile().toString(),
                // Under -daemonize qemu points stderr at /dev/null once it has forked, unless it has a log file: with
                // one, its later messages (e.g. why loading a saved state failed) land there instead of being lost.
                "-D", spec.qemuLog().toString(),
                "-chardev", "file,id=console,path=" + spec.consoleLog(), "-serial", "chardev:console",
                "-qmp", "unix:" + spec.qmpSocket() + ",server=on,wait=off",
                "-kernel", spec.kernel().toString(), "-append", kernelCmdline(spec, machine)));
        argv.addAll(disks(spec));
        argv.addAll(List.of(
                "-device", "virtio-rng-device",
                "-device", "virtio-serial-device",
                "-chardev", "socket,id=agent,path=" + spec.agentSocket() + ",server=on,wait=off",
                "-device", "virtserialport,chardev=agent,name=" + AGENT_PORT_NAME));
        if (spec.ramFile() != null) {
            // The backend takes the machine's default RAM id, so the migration stream names the same RAM block as a
            // VM on anonymous memory: packages move between the two.
            String ramId = machine.defaultRamId();
            argv.addAll(List.of("-object", "memory-backend-file,id=" + ramId + ",size=" + spec.memoryMib() + "M,mem-path="
                    + spec.ramFile() + spec.ramMapping().backendOptions(), "-machine", "memory-backend=" + ramId));
        }
        if (spec.network().hasDevice()) {
            argv.addAll(List.of("-netdev", userNetdev(spec), "-device", "virtio-net-device,netdev=" + NETDEV_ID));
        }
        // Last: the devices before it keep the transports they had, which a saved VM's state refers to.
        argv.addAll(List.of("-device", "virtio-balloon-device,free-page-reporting=on"));
        return List.copyOf(argv);
    }

    /**
     * The root as {@code vda}, the writable disk as {@code vdb}. microvm numbers virtio-mmio slots in the order devices
     * are created; {@code virt} (aarch64) fills its slots from the top down, so there the writable disk comes first.
     */
    private static List<String> disks(QemuVmSpec spec) {
        List<String> root = List.of("-drive", "id=root,file=" + spec.rootfs() + ",format=raw,if=none,readonly=on",
                "-device", "virtio-blk-device,drive=root");
        List<String> rw = List.of("-drive", "id=rw,file=" + spec.writableDisk() + ",format=raw,if=none",
                "-device", "virtio-blk-device,drive=rw");
        boolean topDown = spec.arch().equals("aarch64");
        List<String> disks = new ArrayList<>(topDown ? rw : root);
        disks.addAll(topDown ? root : rw);
        return disks;
    }

    /**
     * The same VM, but waiting for a saved state instead of booting: the devices must be exactly those the state was
     * saved from, so only {@code -incoming defer} is added. The kernel is loaded and then overwritten by the state's
     * memory; QMP {@code migrate-incoming} names where the state comes from once qemu runs.
     */
    public static List<String> incoming(String qemuBinary, QemuVmSpec spec) {
        List<String> argv = new ArrayList<>(build(qemuBinary, spec));
        argv.addAll(List.of("-incoming", "defer"));
        return List.copyOf(argv);
    }

    /**
     * What a state saved from a VM of this command line is bound to: qemu's version, the {@code -M} and {@code -cpu}
     * values. The same strings build the command line, so a platform check cannot drift from what qemu ran.
     */
    public static VmPlatform platform(String qemuVersion, String arch, Accelerator accelerator) {
        return new VmPlatform(QemuHypervisor.NAME, qemuVersion, machineType(arch, accelerator),
                cpuModel(arch, accelerator), arch);
    }

    /**
     * Under TCG an x86 guest cannot calibrate its TSC, and microvm with ACPI offers no other clock: the kernel hangs.
     * Without ACPI the PIT drives the tick and virtio-mmio devices come from the command line QEMU adds.
     */
    private static boolean x86WithoutAcpi(String arch, Accelerator accelerator) {
        return arch.equals("x86_64") && accelerator == Accelerator.TCG;
    }

    /** The {@code -M} value: machine type with the options that shape its devices. */
    static String machineType(String arch, Accelerator accelerator) {
        if (arch.equals("x86_64")) {
            return "microvm,rtc=on,acpi=" + (x86WithoutAcpi(arch, accelerator) ? "off" : "on");
        }
        return QemuMachine.forArch(arch).machineType();
    }

    /** The {@code -cpu} value; TCG on Arm needs an explicit model. */
    static String cpuModel(String arch, Accelerator accelerator) {
        if (arch.equals("aarch64")) {
            return accelerator == Accelerator.TCG ? "cortex-a57" : "host";
        }
        return "max";
    }

    private static String kernelCmdline(QemuVmSpec spec, QemuMachine machine) {
        String cmdline = spec.kernelCmdline().strip();
        if (!cmdline.contains("console=")) {
            cmdline += " console=" + machine.consoleDevice();
        }
        // A microvm has no reset device: a triple fault (reboot=t) ends qemu at once under -no-reboot.
        return x86WithoutAcpi(spec.arch(), spec.accelerator()) ? cmdline + " acpi=off reboot=t" : cmdline;
    }
}
