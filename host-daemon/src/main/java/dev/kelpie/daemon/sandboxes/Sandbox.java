package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.hypervisor.VmHandle;
import io.grpc.ManagedChannel;
import java.util.concurrent.CompletableFuture;

/** A sandbox's live parts: its current record, its VM and its agent session (which may still be dialling). */
final class Sandbox {

    /** Replaced under the sandbox's lock by {@link SandboxManager}; read freely. */
    volatile SandboxRecord record;
    volatile VmHandle vm;
    final CompletableFuture<ManagedChannel> agent = new CompletableFuture<>();

    Sandbox(SandboxRecord record) {
        this.record = record;
    }

    String id() {
        return record.id();
    }
}
