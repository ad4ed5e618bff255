package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.hypervisor.GuestArchs;
import java.time.Duration;

/**
 * The daemon's tunables for sandboxes.
 *
 * @param archs the guest architectures: the host's, and the default of a sandbox that asks for none
 * @param agentReadyTimeout how long a booting VM's agent may take to answer; scaled for slow (TCG) hosts
 * @param stopGrace how long a VMM gets to quit before it is killed
 * @param maxConcurrentBoots VMs booting at once; boots beyond wait (a 2-core host boots two at a time well)
 * @param guestReservedMib guest memory kept from the sandbox's processes for the kernel and the agent, so a memory hog
 *     is killed inside its cgroup while the agent keeps answering
 * @param userPidsLimit most processes the sandbox's commands may have at once (a fork bomb hits this)
 * @param vmExitVisibleWithin how long an agent stream broken under a READY sandbox waits for its VM to be seen dead
 *     before it is explained as a transport error: a dying VMM's sockets close before its process is reaped
 */
public record SandboxSettings(GuestArchs archs, int defaultVcpuCount, int defaultMemoryMib, Duration agentReadyTimeout,
        Duration stopGrace, int maxConcurrentBoots, int guestReservedMib, int userPidsLimit,
        Duration vmExitVisibleWithin) {}
