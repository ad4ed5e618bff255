package dev.kelpie.daemon.hypervisor.qemu;

import dev.kelpie.daemon.hypervisor.VmNetwork;
import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Everything one qemu process needs: the image's kernel and read-only root, the sandbox's writable disk, and the
 * runtime paths (agent channel, QMP, console log, pid file, qemu's own log) that let the VM outlive the daemon.
 *
 * @param egressRelay the program qemu starts per guest connection to the proxy address, connecting it to the
 *     daemon's proxy socket; only used when {@code network} has egress
 * @param ramFile the file guest RAM is mapped from, or null for anonymous memory
 * @param ramMapping whether the guest writes through to {@code ramFile} (the VM owns it) or into private copies of its
 *     pages (a clone sharing a frozen snapshot)
 */
public record QemuVmSpec(String arch, Accelerator accelerator, int vcpuCount, int memoryMib, Path kernel,
        String kernelCmdline, Path rootfs, Path writableDisk, Path agentSocket, Path qmpSocket, Path consoleLog,
        Path pidFile, Path qemuLog, VmNetwork network, EgressRelay egressRelay, Path ramFile, QemuRamMapping ramMapping) {

    /** A VM on anonymous memory. */
    public QemuVmSpec(String arch, Accelerator accelerator, int vcpuCount, int memoryMib, Path kernel,
            String kernelCmdline, Path rootfs, Path writableDisk, Path agentSocket, Path qmpSocket, Path consoleLog,
            Path pidFile, Path qemuLog, VmNetwork network, EgressRelay egressRelay) {
        this(arch, accelerator, vcpuCount, memoryMib, kernel, kernelCmdline, rootfs, writableDisk, agentSocket,
                qmpSocket, consoleLog, pidFile, qemuLog, network, egressRelay, null, QemuRamMapping.OWNED);
    }

    public QemuVmSpec {
        Objects.requireNonNull(arch, "arch");
        Objects.requireNonNull(network, "network");
        Objects.requireNonNull(accelerator, "accelerator");
        Objects.requireNonNull(ramMapping, "ramMapping");
        if (vcpuCount < 1) {
            throw new IllegalArgumentException("vcpuCount must be at least 1, got " + vcpuCount);
        }
        if (memoryMib < 64) {
            throw new IllegalArgumentException("memoryMib must be at least 64, got " + memoryMib);
        }
    }
}
