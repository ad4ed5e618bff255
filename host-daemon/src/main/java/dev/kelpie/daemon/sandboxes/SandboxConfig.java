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
 */
public record SandboxConfig(String imageVersion, int vcpuCount, int memoryMib, long diskSizeMib, Map<String, String> env,
        Map<String, String> labels, long ttlMs, long idleTimeoutMs, NetworkPolicy network, IdleAction idleAction) {

    public SandboxConfig {
        network = network == null ? NetworkPolicy.NONE : network;
        idleAction = idleAction == null ? IdleAction.DELETE : idleAction;
        env = Map.copyOf(env);
        labels = Map.copyOf(labels);
    }

    /** Settings whose idle timeout, if any, deletes the sandbox. */
    public SandboxConfig(String imageVersion, int vcpuCount, int memoryMib, long diskSizeMib, Map<String, String> env,
            Map<String, String> labels, long ttlMs, long idleTimeoutMs, NetworkPolicy network) {
        this(imageVersion, vcpuCount, memoryMib, diskSizeMib, env, labels, ttlMs, idleTimeoutMs, network, IdleAction.DELETE);
    }
}
