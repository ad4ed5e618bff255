package dev.kelpie.daemon.hypervisor;

import java.util.Objects;

/**
 * What a saved VM state is bound to. Guest memory resumes only under the same VMM build, machine type and CPU model
 * (device state and CPU features are part of the saved state), so a {@code vm} teleport package is restored only
 * where every field is equal.
 *
 * @param hypervisor backend name, e.g. {@code qemu}
 * @param hypervisorVersion the VMM's own version, e.g. {@code 7.2.19}
 * @param machineType machine type with the options that shape devices, e.g. {@code microvm,rtc=on,acpi=off}
 * @param cpuModel CPU model given to the VMM, e.g. {@code max}
 * @param arch guest architecture
 */
public record VmPlatform(String hypervisor, String hypervisorVersion, String machineType, String cpuModel, String arch) {

    public VmPlatform {
        Objects.requireNonNull(hypervisor, "hypervisor");
        Objects.requireNonNull(hypervisorVersion, "hypervisorVersion");
        Objects.requireNonNull(machineType, "machineType");
        Objects.requireNonNull(cpuModel, "cpuModel");
        Objects.requireNonNull(arch, "arch");
    }

    /** e.g. {@code qemu 7.2.19}. */
    public String describeHypervisor() {
        return hypervisor + " " + hypervisorVersion;
    }
}
