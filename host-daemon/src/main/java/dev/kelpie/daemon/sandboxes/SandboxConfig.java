package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.network.NetworkPolicy;
import java.util.Map;

/**
 * A sandbox's settings with the daemon's defaults filled in.
 *
 * @param imageVersion empty when the client asked for the newest image (the record holds the resolved one)
 * @param ttlMs lifetime from creation; 0 for none
 * @param idleTimeoutMs time without a call in flight, an attached stream or a detached process after which
 *     {@code idleAction} happens; 0 for never
 * @param idleAction what happens once idle; DELETE in records of daemons that had no idle actions
 * @param network as asked, host ports 0 included (the VM's record holds the ports picked); none in records of older
 *     daemons
 * @param arch guest architecture; empty for the daemon's default (and in records of older daemons: the record's own
 *     {@code arch} says what the VM runs)
 * @param ociImage the OCI image reference to boot as the root instead of the base image's; empty for the base image
 *     (and in records of daemons before OCI sandboxes). The record's {@code oci} holds what it resolved to.
 */
public record SandboxConfig(String imageVersion, int vcpuCount, int memoryMib, long diskSizeMib, Map<String, String> env,
        Map<String, String> labels, long ttlMs, long idleTimeoutMs, NetworkPolicy network, IdleAction idleAction,
        String arch, String ociImage) {

    public SandboxConfig {
        ociImage = ociImage == null ? "" : ociImage;
        network = network == null ? NetworkPolicy.NONE : network;
        idleAction = idleAction == null ? IdleAction.DELETE : idleAction;
        arch = arch == null ? "" : arch;
        env = Map.copyOf(env);
        labels = Map.copyOf(labels);
    }

    /** Settings of a sandbox booting the base image's own root. */
    public SandboxConfig(String imageVersion, int vcpuCount, int memoryMib, long diskSizeMib, Map<String, String> env,
            Map<String, String> labels, long ttlMs, long idleTimeoutMs, NetworkPolicy network, IdleAction idleAction,
            String arch) {
        this(imageVersion, vcpuCount, memoryMib, diskSizeMib, env, labels, ttlMs, idleTimeoutMs, network, idleAction, arch,
                "");
    }

    /** The same settings booting the OCI image {@code reference}. */
    public SandboxConfig withOciImage(String reference) {
        return new SandboxConfig(imageVersion, vcpuCount, memoryMib, diskSizeMib, env, labels, ttlMs, idleTimeoutMs,
                network, idleAction, arch, reference);
    }

    /** Settings of the daemon's default architecture whose idle timeout, if any, deletes the sandbox. */
    public SandboxConfig(String imageVersion, int vcpuCount, int memoryMib, long diskSizeMib, Map<String, String> env,
            Map<String, String> labels, long ttlMs, long idleTimeoutMs, NetworkPolicy network) {
        this(imageVersion, vcpuCount, memoryMib, diskSizeMib, env, labels, ttlMs, idleTimeoutMs, network, IdleAction.DELETE,
                "", "");
    }
}
