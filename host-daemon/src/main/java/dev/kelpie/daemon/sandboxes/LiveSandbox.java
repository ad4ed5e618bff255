package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.hypervisor.VmHandle;
import io.grpc.ManagedChannel;

/**
 * A READY sandbox's parts, lent to an operation that needs the VM itself (a snapshot) while nothing else may stop it;
 * {@code agent} is null for a sandbox lent paused ({@link SandboxManager#exclusivelyEvenPaused}).
 */
public record LiveSandbox(SandboxRecord record, VmHandle vm, ManagedChannel agent) {

    /** The work done with it. */
    @FunctionalInterface
    public interface Operation<T> {
        T run(LiveSandbox sandbox) throws InterruptedException;
    }
}
