package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.hypervisor.VmHandle;
import io.grpc.ManagedChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.ReentrantLock;

/** A sandbox's live parts: its current record, its VM and its agent session (which may still be dialling). */
final class Sandbox {

    /** Replaced under the sandbox's lock by {@link SandboxManager}; read freely. */
    volatile SandboxRecord record;
    volatile VmHandle vm;
    final CompletableFuture<ManagedChannel> agent = new CompletableFuture<>();
    /**
     * Held by operations that change what the VM is doing (pause, resume, delete, snapshot), so that a delete waits
     * for a snapshot in progress instead of pulling its VM away. Not the record's monitor: exec streams touch the
     * record throughout a long snapshot.
     */
    final ReentrantLock operations = new ReentrantLock();

    Sandbox(SandboxRecord record) {
        this.record = record;
    }

    String id() {
        return record.id();
    }
}
