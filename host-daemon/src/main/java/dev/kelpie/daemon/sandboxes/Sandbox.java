package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.hypervisor.VmHandle;
import io.grpc.ManagedChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A sandbox's live parts: its current record, its VM and its agent session (which may still be dialling), and what
 * orders the operations on it. The record changes only through {@link SandboxRegistry#update}, under this object's
 * monitor.
 */
final class Sandbox {

    /** Replaced under the sandbox's monitor by {@link SandboxRegistry}; read freely. */
    volatile SandboxRecord record;
    volatile VmHandle vm;
    /**
     * The last activity (exec, file call), kept apart from the record so that the hot path neither takes the monitor
     * nor writes the record; folded into the record whenever it is saved, and saved on its own by the reaper.
     */
    volatile long lastActivityMs;
    /** Its usage as last observed, kept apart from the record for the same reason; folded in whenever it is saved. */
    final UsageMeter usage;
    /** Replaced (under the operations lock) when a SUSPENDED sandbox resumes in a new VM process. */
    volatile CompletableFuture<ManagedChannel> agent = new CompletableFuture<>();
    /**
     * Calls and streams in flight that need the guest; the idle action never runs while there is one. Counted without
     * a lock: a call counts itself before it looks at {@link #idling}, and the idle action sets {@code idling} before
     * it looks at this, so one of the two always sees the other (ADR 0029).
     */
    final AtomicInteger calls = new AtomicInteger();
    /** Set while the idle action pauses or suspends the sandbox; a call that sees it waits and resumes the sandbox. */
    volatile boolean idling;
    /**
     * Held by operations that change what the VM is doing (pause, resume, delete, snapshot), so that a delete waits
     * for a snapshot in progress instead of pulling its VM away. Not the record's monitor: exec streams read the
     * record throughout a long snapshot.
     */
    final ReentrantLock operations = new ReentrantLock();
    /** Completes once its create is over either way: its VM serves it, or is destroyed. Done at once for the rest. */
    final CompletableFuture<Void> created = new CompletableFuture<>();
    /** Completes once the sandbox is gone: its record removed. Nothing is saved after that. */
    final CompletableFuture<Void> gone = new CompletableFuture<>();
    /**
     * The thread booting this sandbox while it waits on something a Delete may cut short (the VMM, the agent); the
     * Delete interrupts it. Guarded by the monitor.
     */
    Thread cancellableCreator;
    /** The thread resuming this sandbox from its idle action; a Delete interrupts it. Guarded by the monitor. */
    Thread resumer;
    /** A Delete has begun: a resume that has not started yet must not start. Guarded by the monitor. */
    boolean deleteRequested;

    Sandbox(SandboxRecord record) {
        this.record = record;
        this.lastActivityMs = record.lastActivityMs();
        this.usage = new UsageMeter(record.usage());
    }

    /** A sandbox found on disk by a new daemon: no create of it is running. */
    static Sandbox recovered(SandboxRecord record) {
        Sandbox sandbox = new Sandbox(record);
        sandbox.created.complete(null);
        return sandbox;
    }

    String id() {
        return record.id();
    }

    /** The record as reported: with the latest activity and usage. */
    SandboxRecord current() {
        SandboxRecord r = record;
        long activity = lastActivityMs;
        SandboxUsage used = usage.latest();
        if (used != r.usage()) {
            r = r.withUsage(used);
        }
        return activity > r.lastActivityMs() ? r.withActivity(activity) : r;
    }
}
