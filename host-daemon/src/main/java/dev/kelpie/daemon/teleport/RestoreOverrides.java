package dev.kelpie.daemon.teleport;

import dev.kelpie.daemon.network.NetworkPolicy;
import java.util.Map;
import java.util.Optional;

/**
 * What a restore changes from the package's sandbox settings; zero or empty keeps the package's value. A {@code vm}
 * package's shape (vCPUs, memory) is part of its saved state and cannot change, nor can whether its VM has a network
 * device.
 *
 * @param network the caller's policy for the new sandbox; when absent, the sandbox has none unless
 *     {@code acceptPackagedNetwork}
 * @param acceptPackagedNetwork apply the package's own policy (without host-internal entries) when {@code network} is
 *     absent
 * @param arch the guest architecture to restore as; empty for the daemon's default. A vm package restores only as its
 *     own
 * @param ociImage the OCI image to restore onto instead of the digest the package's sandbox ran; empty keeps it
 * @param acceptOtherOciDigest allow a digest other than the package's (same repository only)
 */
public record RestoreOverrides(Map<String, String> labels, long ttlMs, long idleTimeoutMs, int vcpuCount, int memoryMib,
        Optional<NetworkPolicy> network, boolean acceptPackagedNetwork, String arch, String ociImage,
        boolean acceptOtherOciDigest) {

    public static final RestoreOverrides NONE = new RestoreOverrides(Map.of(), 0, 0, 0, 0, Optional.empty(), false, "");

    public RestoreOverrides {
        labels = Map.copyOf(labels);
        arch = arch == null ? "" : arch;
        network = network == null ? Optional.empty() : network;
        ociImage = ociImage == null ? "" : ociImage;
    }

    /** Overrides that keep the package's OCI image. */
    public RestoreOverrides(Map<String, String> labels, long ttlMs, long idleTimeoutMs, int vcpuCount, int memoryMib,
            Optional<NetworkPolicy> network, boolean acceptPackagedNetwork, String arch) {
        this(labels, ttlMs, idleTimeoutMs, vcpuCount, memoryMib, network, acceptPackagedNetwork, arch, "", false);
    }
}
