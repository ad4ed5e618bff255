package dev.kelpie.daemon.sandboxes;

import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;

/**
 * The daemon's sandboxes and their records: the one place a record changes. Every change is checked against the
 * lifecycle ({@link SandboxState#canBecome}), saved, and announced in order; nothing is saved once a sandbox is gone.
 */
final class SandboxRegistry {

    private final Map<String, Sandbox> sandboxes = new ConcurrentHashMap<>();
    private final SandboxStore store;
    private final UsageAccounting usage;
    private final SandboxEvents events = new SandboxEvents();

    SandboxRegistry(SandboxStore store, UsageAccounting usage) {
        this.store = store;
        this.usage = usage;
    }

    SandboxEvents events() {
        return events;
    }

    SandboxStore store() {
        return store;
    }

    /**
     * Saves a new sandbox's first record and makes it visible: before this, nobody can find it to change it. Called
     * under admission's lock, so its event is only queued: the caller delivers it ({@link #deliverEvents}).
     */
    void add(Sandbox sandbox) {
        store.save(sandbox.record);
        sandboxes.put(sandbox.id(), sandbox);
        events.enqueue(new SandboxEvent(sandbox.record, null));
    }

    /** Delivers queued events; a caller that changed a record under a lock of its own calls this once it let go. */
    void deliverEvents() {
        events.deliver();
    }

    /** A sandbox of an earlier daemon, as found on disk: visible, but nothing is saved or announced. */
    void adopt(Sandbox sandbox) {
        sandboxes.put(sandbox.id(), sandbox);
    }

    /**
     * Applies {@code change} to the sandbox's record, saves it and announces a change of state.
     *
     * @throws SandboxStateException when the change would break the lifecycle (e.g. STOPPING to READY) or the sandbox
     *     is gone; nothing is saved then
     */
    SandboxRecord update(Sandbox sandbox, UnaryOperator<SandboxRecord> change) {
        SandboxRecord next;
        synchronized (sandbox) {
            SandboxRecord previous = sandbox.record;
            if (sandbox.gone.isDone()) {
                throw new SandboxStateException("sandbox " + sandbox.id() + " was deleted");
            }
            next = change.apply(previous);
            if (!previous.state().canBecome(next.state())) {
                throw new SandboxStateException("sandbox " + sandbox.id() + " is " + describe(previous.state())
                        + "; it cannot become " + describe(next.state()));
            }
            // Up to now the sandbox was in its previous state (holding its VM or not): that is what is charged.
            next = next.withUsage(usage.observe(sandbox));
            long activity = sandbox.lastActivityMs;
            if (activity > next.lastActivityMs()) {
                next = next.withActivity(activity);
            }
            store.save(next);
            sandbox.record = next;
            if (next.state() != previous.state()) {
                events.enqueue(new SandboxEvent(next, previous.state()));
            }
        }
        if (!Thread.holdsLock(sandbox)) {
            events.deliver(); // else the caller, which holds the monitor for more than this change, delivers
        }
        return next;
    }

    /**
     * Removes a sandbox for good: its record goes from disk and from the list, and watchers see it STOPPED. Its VM
     * must be gone already.
     */
    void remove(Sandbox sandbox) {
        SandboxRecord last;
        synchronized (sandbox) {
            if (sandbox.gone.isDone()) {
                return;
            }
            last = sandbox.record;
            store.delete(sandbox.id());
            sandboxes.remove(sandbox.id(), sandbox);
            sandbox.record = last.withState(SandboxState.STOPPED).withVm(null);
            sandbox.gone.complete(null);
            events.enqueue(new SandboxEvent(sandbox.record, last.state()));
        }
        events.deliver();
    }

    /**
     * Brings every running sandbox's usage up to date in memory, and saves the records whose activity is newer than
     * them (so a restarted daemon times idleness right) or whose usage is {@link UsageAccounting#USAGE_SAVE_INTERVAL_MS}
     * ahead (so a crash loses little of it); {@code allUsage} saves every running sandbox's usage (at shutdown).
     */
    void persistInMemoryState(boolean allUsage) {
        for (Sandbox sandbox : inCreationOrder()) {
            if (!sandbox.record.state().holdsVm()) {
                continue;
            }
            SandboxUsage used = usage.observe(sandbox);
            if (sandbox.lastActivityMs > sandbox.record.lastActivityMs()
                    || allUsage || UsageAccounting.worthSaving(sandbox.record.usage(), used)) {
                try {
                    update(sandbox, r -> r);
                } catch (SandboxStateException e) {
                    // deleted meanwhile: nothing to keep
                }
            }
        }
    }

    /** The sandbox's usage as of now, kept in memory; {@link Sandbox#current()} reports it. */
    SandboxUsage observeUsage(Sandbox sandbox) {
        return usage.observe(sandbox);
    }

    Sandbox find(String id) {
        Sandbox sandbox = sandboxes.get(id);
        if (sandbox == null) {
            throw new SandboxNotFoundException(id);
        }
        return sandbox;
    }

    Optional<Sandbox> lookup(String id) {
        return Optional.ofNullable(sandboxes.get(id));
    }

    boolean contains(String id) {
        return sandboxes.containsKey(id);
    }

    /** Sandboxes carrying all of {@code labels}, oldest first. */
    List<SandboxRecord> list(Map<String, String> labels) {
        return inCreationOrder().stream().map(Sandbox::current)
                .filter(r -> labels.entrySet().stream().allMatch(l -> l.getValue().equals(r.config().labels().get(l.getKey()))))
                .toList();
    }

    /** Oldest first, then by id: one seed of the simulation must replay the same run. */
    List<Sandbox> inCreationOrder() {
        return sandboxes.values().stream()
                .sorted(Comparator.comparingLong((Sandbox s) -> s.record.createdAtMs()).thenComparing(Sandbox::id))
                .toList();
    }

    /** Sandboxes that count against the host's limits: a VM now, or one that resumes on the next call. */
    Collection<SandboxRecord> reservingRoom() {
        return sandboxes.values().stream().map(s -> s.record).filter(r -> r.state().reservesRoom()).toList();
    }

    /** Sandboxes that hold a VM now. */
    Collection<SandboxRecord> holdingVms() {
        return sandboxes.values().stream().map(s -> s.record).filter(r -> r.state().holdsVm()).toList();
    }

    /** The sandboxes that booted the OCI image {@code manifestDigest}, in any state (see SandboxManager's). */
    List<String> ociImageUsers(String manifestDigest) {
        return all().stream().map(s -> s.record).filter(r -> r.oci() != null
                && r.oci().manifestDigest().equals(manifestDigest)).map(SandboxRecord::id).sorted().toList();
    }

    Collection<Sandbox> all() {
        return sandboxes.values();
    }

    static String describe(SandboxState state) {
        return state.name().toLowerCase();
    }
}
