package dev.kelpie.teleport.pkg;

import com.fasterxml.jackson.annotation.JsonProperty;

/** The VMM a package was taken under; a {@code vm} package restores only under an equal one. */
public record PlatformRef(@JsonProperty("hypervisor") String hypervisor,
        @JsonProperty("hypervisor_version") String hypervisorVersion, @JsonProperty("machine_type") String machineType,
        @JsonProperty("cpu_model") String cpuModel) {

    /** e.g. {@code qemu 7.2.22}. */
    public String describeHypervisor() {
        return hypervisor + " " + hypervisorVersion;
    }
}
