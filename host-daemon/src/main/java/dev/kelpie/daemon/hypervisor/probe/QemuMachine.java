package dev.kelpie.daemon.hypervisor.probe;

import java.util.List;

/**
 * Per-architecture QEMU facts: binary, machine type, the guest's serial console device, and the Debian package that
 * installs the binary.
 */
public record QemuMachine(String binary, String machineType, String consoleDevice, String debianPackage) {

    /**
     * The machine for a guest architecture. x86_64 uses {@code microvm} (no PCI, no firmware: fastest boot);
     * aarch64 uses {@code virt}, which is QEMU's minimal Arm board.
     */
    public static QemuMachine forArch(String arch) {
        return switch (arch) {
            case "x86_64" -> new QemuMachine("qemu-system-x86_64", "microvm", "ttyS0", "qemu-system-x86");
            case "aarch64" -> new QemuMachine("qemu-system-aarch64", "virt", "ttyAMA0", "qemu-system-arm");
            default -> throw new IllegalArgumentException("unsupported guest architecture '" + arch
                    + "' (supported: x86_64, aarch64)");
        };
    }

    /**
     * The CPU model argument for an accelerator; TCG on Arm needs an explicit model, KVM/HVF take the host's. On x86
     * the probe boots {@code max}, as sandboxes do: with QEMU 10's default model (qemu64) a microvm with ACPI resets
     * before our kernel prints a word, which read as "TCG does not work" on a host where every sandbox boots.
     */
    public List<String> cpuArgs(Accelerator accelerator) {
        if (machineType.equals("virt")) {
            return List.of("-cpu", accelerator == Accelerator.TCG ? "max" : "host");
        }
        return List.of("-cpu", "max");
    }

    /**
     * The {@code -M} value the probe boots: under TCG an x86 microvm without ACPI, as sandboxes run (QemuCommandLine):
     * with ACPI, QEMU 10's TCG microvm resets before our kernel prints in most boots.
     */
    public String probeMachine(Accelerator accelerator) {
        return x86Tcg(accelerator) ? machineType + ",rtc=on,acpi=off" : machineType;
    }

    /** What the probe adds to the kernel command line to match {@link #probeMachine}. */
    public String probeKernelArgs(Accelerator accelerator) {
        return x86Tcg(accelerator) ? " acpi=off" : "";
    }

    private boolean x86Tcg(Accelerator accelerator) {
        return machineType.equals("microvm") && accelerator == Accelerator.TCG;
    }

    /**
     * The id QEMU gives the machine's RAM backend when it makes one itself ({@code default_ram_id}); a migration
     * stream names RAM blocks by it.
     */
    public String defaultRamId() {
        return machineType.equals("virt") ? "mach-virt.ram" : machineType + ".ram";
    }
}
