package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.network.NetworkPolicy;
import java.util.Map;

/**
 * A sandbox's settings with the daemon's defaults filled in.
 *
 * @param imageVersion empty when the client asked for the newest image (the record holds the resolved one)
 * @param ttlMs lifetime from creation; 0 for none
 * @param idleTimeoutMs time without exec, file transfer or attach after which the sandbox is deleted; 0 for never
 * @param network as asked, host ports 0 included (the VM's record holds the ports picked); none in records of older
 *     daemons
 * @param arch guest architecture; empty for the daemon's default (and in records of older daemons: the record's own
 *     {@code arch} says what the VM runs)
 */
public record SandboxConfig(String imageVersion, int vcpuCount, int memoryMib, long diskSizeMib, Map<String, String> env,
        Map<String, String> labels, long ttlMs, long idleTimeoutMs, NetworkPolicy network, String arch) {

    /** A sandbox of the daemon's default architecture. */
    public SandboxConfig(String imageVersion, int vcpuCount, int memoryMib, long diskSizeMib, Map<String, String> env,
            Map<String, String> labels, long ttlMs, long idleTimeoutMs, NetworkPolicy network) {
        this(imageVersion, vcpuCount, memoryMib, diskSizeMib, env, labels, ttlMs, idleTimeoutMs, network, "");
    }

    public SandboxConfig {
        network = network == null ? NetworkPolicy.NONE : network;
        arch = arch == null ? "" : arch;
        env = Map.copyOf(env);
        labels = Map.copyOf(labels);
    }
}
