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
 */
public record SandboxConfig(String imageVersion, int vcpuCount, int memoryMib, long diskSizeMib, Map<String, String> env,
        Map<String, String> labels, long ttlMs, long idleTimeoutMs, NetworkPolicy network, IdleAction idleAction,
        String arch) {

    public SandboxConfig {
        network = network == null ? NetworkPolicy.NONE : network;
        idleAction = idleAction == null ? IdleAction.DELETE : idleAction;
        arch = arch == null ? "" : arch;
        env = Map.copyOf(env);
        labels = Map.copyOf(labels);
    }

    /** Settings of the daemon's default architecture whose idle timeout, if any, deletes the sandbox. */
    public SandboxConfig(String imageVersion, int vcpuCount, int memoryMib, long diskSizeMib, Map<String, String> env,
            Map<String, String> labels, long ttlMs, long idleTimeoutMs, NetworkPolicy network) {
        this(imageVersion, vcpuCount, memoryMib, diskSizeMib, env, labels, ttlMs, idleTimeoutMs, network, IdleAction.DELETE,
                "");
    }
}
