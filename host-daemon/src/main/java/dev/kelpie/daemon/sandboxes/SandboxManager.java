package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.agent.AgentConnector;
import dev.kelpie.daemon.hypervisor.GuestArchUnavailableException;
import dev.kelpie.daemon.hypervisor.GuestArchs;
import dev.kelpie.daemon.hypervisor.Hypervisor;
import dev.kelpie.daemon.hypervisor.SavedVmState;
import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.VmHandle;
import dev.kelpie.daemon.hypervisor.VmPlatform;
import dev.kelpie.daemon.images.BootImage;
import dev.kelpie.daemon.images.oci.OciBoot;
import dev.kelpie.daemon.images.oci.OciBootSource;
import dev.kelpie.daemon.images.ImageSource;
import dev.kelpie.daemon.network.EgressGateway;
import dev.kelpie.daemon.network.EgressTraffic;
import dev.kelpie.daemon.network.NetworkPolicy;
import dev.kelpie.daemon.network.NetworkSupport;
import io.grpc.ManagedChannel;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * The sandboxes of this host, as the API and teleport see them. The work is done by the parts it wires: the
 * {@link SandboxRegistry} (records and their lifecycle), {@link Capacity} (admission with the warm pool),
 * {@link SandboxLifecycle} (create, pause, resume, delete), {@link VmSupervision}, {@link SandboxRecovery} and
 * {@link SandboxReaper}. All time comes from the injected clock and all background work runs on the injected executor,
 * so a simulation can drive it step by step.
 */
public final class SandboxManager implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(SandboxManager.class);

    private final Hypervisor hypervisor;
    private final ImageSource images;
    private final OciBootSource oci;
    private final Clock clock;
    private final SandboxSettings settings;
    private final Supplier<String> ids;
    private final SandboxRegistry registry;
    private final SandboxNetworks networks;
    private final Capacity capacity;
    private final VmLauncher launcher;
    private final VmSupervision supervision;
    private final SandboxLifecycle lifecycle;
    private final SandboxRecovery recovery;
    private final SandboxReaper reaper;
    private final IdleActions idle;
    private final Executor background;
    private final SandboxForks forks;
    private volatile boolean closed;

    /** A manager whose sandboxes cannot have egress. */
    public SandboxManager(Hypervisor hypervisor, ImageSource images, AgentConnector agents, SandboxStore store,
            Clock clock, SandboxLimits limits, SandboxSettings settings, Supplier<String> ids, Executor background) {
        this(hypervisor, images, agents, store, clock, limits, settings, ids, background, SandboxNetworks.NO_EGRESS);
    }

    /** A manager that counts no CPU usage (tests, simulations: their VMs have no real process). */
    public SandboxManager(Hypervisor hypervisor, ImageSource images, AgentConnector agents, SandboxStore store,
            Clock clock, SandboxLimits limits, SandboxSettings settings, Supplier<String> ids, Executor background,
            EgressGateway egress) {
        this(hypervisor, images, agents, store, clock, limits, settings, ids, background, egress, VmCpuTime.NONE);
    }

    /** A manager that cannot boot OCI images. */
    public SandboxManager(Hypervisor hypervisor, ImageSource images, AgentConnector agents, SandboxStore store,
            Clock clock, SandboxLimits limits, SandboxSettings settings, Supplier<String> ids, Executor background,
            EgressGateway egress, VmCpuTime cpu) {
        this(hypervisor, images, agents, store, clock, limits, settings, ids, background, egress, cpu, OciBootSource.NONE);
    }

    /**
     * @param cpu how the host counts a VM process's CPU time, for usage accounting
     * @param oci where sandboxes from {@code spec.oci_image} get their root
     */
    public SandboxManager(Hypervisor hypervisor, ImageSource images, AgentConnector agents, SandboxStore store,
            Clock clock, SandboxLimits limits, SandboxSettings settings, Supplier<String> ids, Executor background,
            EgressGateway egress, VmCpuTime cpu, OciBootSource oci) {
        this.hypervisor = hypervisor;
        this.images = images;
        this.oci = oci;
        this.clock = clock;
        this.settings = settings;
        this.ids = ids;
        this.background = background;
        this.networks = new SandboxNetworks(egress, store::runtimeDir);
        UsageAccounting usage = new UsageAccounting(cpu, networks, clock);
        this.registry = new SandboxRegistry(store, usage);
        this.capacity = new Capacity(limits, registry);
        this.launcher = new VmLauncher(hypervisor, agents, store, networks, settings);
        this.supervision = new VmSupervision(registry, launcher, networks);
        VmSuspension suspension = new SavedStateSuspension(hypervisor, store, launcher);
        this.idle = new IdleActions(registry, suspension, images, supervision, networks, clock, oci);
        this.lifecycle = new SandboxLifecycle(hypervisor, images, registry, capacity, launcher, supervision, settings,
                clock, ids, usage, idle, oci);
        this.recovery = new SandboxRecovery(hypervisor, registry, launcher, supervision, networks, suspension, background);
        this.reaper = new SandboxReaper(registry, lifecycle, idle, clock);
        this.forks = new SandboxForks(this, store, clock, new SecureRandom(), ids);
    }

    public SandboxEvents events() {
        return registry.events();
    }

    public String backendName() {
        return hypervisor.name();
    }

    /** The platform new VMs of {@code arch} run on here, which a saved VM state must match. */
    public VmPlatform vmPlatform(String arch) {
        return hypervisor.platform(arch);
    }

    /** The guest architectures: the host's and the default of new sandboxes. */
    public GuestArchs guestArchs() {
        return settings.archs();
    }

    /** Why the selected backend cannot run guests of {@code arch}, or empty when it can. */
    public Optional<String> archUnavailableReason(String arch) {
        return hypervisor.archUnavailableReason(arch);
    }

    /** @throws GuestArchUnavailableException when the selected backend cannot run guests of {@code arch} */
    public void requireArch(String arch) {
        SandboxLifecycle.checkArch(hypervisor, arch);
    }

    /**
     * A package's memory as this host froze it at an earlier restore (see {@link Hypervisor#frozenMemory}), with
     * {@code disk} as the writable disk, for VMs on {@code platform}; empty when there is none.
     */
    public Optional<SavedVmState> frozenMemory(String memoryKey, java.nio.file.Path disk, VmPlatform platform) {
        return hypervisor.frozenMemory(memoryKey, disk, platform);
    }

    /** Drops a package's frozen memory once the package is gone; sandboxes restored from it keep it. */
    public void forgetMemory(String memoryKey) {
        hypervisor.forgetMemory(memoryKey);
    }

    // ---- lifecycle ---------------------------------------------------------------------------------------------

    /**
     * Boots a sandbox and returns it READY. A failed create leaves nothing behind: no process, no files, no record.
     *
     * @throws AdmissionDeniedException when the host has no room
     * @throws SandboxUnavailableException when the VM or its agent did not come up, with the console's tail
     * @throws SandboxDeletedException when a Delete of the new sandbox came first
     */
    public SandboxRecord create(SandboxConfig requested) throws InterruptedException {
        return create(requested, Launch.COLD_BOOT);
    }

    /**
     * Creates a sandbox that comes up as {@code launch} says (a restore resumes a saved VM or imports a workspace);
     * otherwise exactly like {@link #create(SandboxConfig)}, with the same guarantee that a failure leaves nothing.
     */
    public SandboxRecord create(SandboxConfig requested, Launch launch) throws InterruptedException {
        return lifecycle.create(requested, launch);
    }

    public SandboxRecord pause(String id) {
        return lifecycle.pause(id);
    }

    /**
     * Thaws the VM and steps the guest clock, which stood still while paused; a sandbox its idle action suspended
     * starts again from its local state.
     */
    public SandboxRecord resume(String id) throws InterruptedException {
        return lifecycle.resume(id);
    }

    /**
     * Copies a READY sandbox {@code count} times: each copy continues from one instant of the source (processes,
     * memory, disk) and is returned READY, with its own clock, entropy, generation and hostname; the source runs on.
     * Copies count against admission. All or nothing: a failure deletes the copies made.
     *
     * @param labels put on the copies beside the source's own
     * @throws dev.kelpie.daemon.hypervisor.VmOperationUnsupportedException when the backend cannot fork (libkrun)
     */
    public List<SandboxRecord> fork(String id, int count, Map<String, String> labels) throws InterruptedException {
        return forks.fork(id, count, labels);
    }

    /**
     * Stops the VM and removes everything the sandbox owned; returns once it is gone. Deleting a sandbox being created
     * cancels its boot.
     */
    public void delete(String id) throws InterruptedException {
        lifecycle.delete(id);
    }

    /** Deletes sandboxes past their TTL, applies idle actions (ADR 0029); returns the ids deleted. */
    public List<String> reapExpired() throws InterruptedException {
        return reaper.reap();
    }

    /** Finds the sandboxes of an earlier daemon. Call once, before serving. */
    public void recover() {
        recovery.recover();
    }

    // ---- warm pool -------------------------------------------------------------------------------------------

    /**
     * Starts a warm pool of {@code size} VMs of the default shape on the newest image of {@code arch} (empty for the
     * default arch); 0 means none. Call after
     * {@link #recover()}. Pooled VMs count against the host's limits and make way for sandboxes.
     */
    public void startWarmPool(int size, String arch) {
        startWarmPool(size, arch, "");
    }

    /**
     * A warm pool whose VMs boot the OCI image {@code ociImage} (pulled and built now, when absent) on the newest
     * base image of the host's architecture; empty for the base image's own root. The pool is keyed by the digest
     * the reference names now.
     */
    public void startWarmPool(int size, String arch, String ociImage) {
        if (size <= 0) {
            return;
        }
        String poolArch = settings.archs().resolve(arch, "kelpie.sandboxes.warm-pool-arch");
        SandboxLifecycle.checkArch(hypervisor, poolArch);
        BootImage image = images.resolve("", poolArch);
        Optional<OciBoot> boot;
        try {
            // Never released: the pool boots VMs from this root for as long as the daemon runs.
            boot = ociImage.isEmpty() ? Optional.empty() : Optional.of(oci.prepare(ociImage, image));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            LOG.warnf("no warm pool: interrupted while preparing OCI image %s", ociImage);
            return;
        }
        String digest = boot.map(b -> b.oci().manifestDigest()).orElse("");
        WarmPool.PoolKey key = new WarmPool.PoolKey(image.version(), image.arch(), settings.defaultVcpuCount(),
                settings.defaultMemoryMib(), image.diskTemplateSizeMib(), digest);
        capacity.startPool(key, size, k -> launcher.bootForPool(ids.get(), boot.isPresent() ? boot.get().image()
                : images.resolve(k.imageVersion(), k.arch()), k), background);
        LOG.infof("warm pool of %d VMs for image %s/%s%s%s (%d vCPU, %d MiB)", size, image.version(), image.arch(),
                settings.archs().emulated(image.arch()) ? ", emulated" : "",
                digest.isEmpty() ? "" : " with OCI image " + ociImage + " (" + digest + ")", key.vcpuCount(),
                key.memoryMib());
    }

    /**
     * The OCI image {@code reference} names, pulled and its root built on {@code base} when absent: what a restore
     * checks before it creates anything.
     */
    public OciBoot prepareOci(String reference, BootImage base) throws InterruptedException {
        return oci.prepare(reference, base);
    }

    /**
     * Takes back what {@link #prepareOci} pulled for a restore that was then refused or failed, so that the refusal
     * adds nothing to the cache; an image it found cached, or that a sandbox booted meanwhile, stays.
     */
    public void discardPulledOci(OciBoot boot) {
        oci.abandon(boot, () -> ociImageUsers(boot.oci().manifestDigest()));
    }

    /** Tops the warm pool up after failed refills or when room came free. */
    public void refillWarmPool() {
        capacity.refillPool();
    }

    /** The warm pool's state, if there is one. */
    public Optional<WarmPoolStatus> warmPoolStatus() {
        return capacity.poolStatus().map(s -> new WarmPoolStatus(s.key().imageVersion(), s.key().arch(),
                s.key().vcpuCount(), s.key().memoryMib(), s.targetSize(), s.ready(), s.booting(), s.takenTotal(),
                s.failedBootsTotal(), s.lastError()));
    }

    /**
     * How many sandboxes and pooled VMs boot from each image, by "VERSION/ARCH"; a pool counts as a user even while
     * empty, since it refills from its image.
     */
    public Map<String, Integer> imageUsage() {
        Map<String, Integer> usage = new HashMap<>();
        for (SandboxRecord r : registry.holdingVms()) {
            usage.merge(r.imageVersion() + "/" + r.arch(), 1, Integer::sum);
        }
        warmPoolStatus().ifPresent(p -> usage.merge(p.imageVersion() + "/" + p.arch(),
                Math.max(1, p.ready() + p.booting()), Integer::sum));
        return usage;
    }

    /**
     * The sandboxes that booted the OCI image {@code manifestDigest}, in any state: a paused or suspended one needs
     * its root to go on, so each of them keeps the image in the cache.
     */
    public List<String> ociImageUsers(String manifestDigest) {
        return registry.ociImageUsers(manifestDigest);
    }

    /** What network policies new sandboxes can have on the backend serving now. */
    public NetworkSupport networkSupport() {
        try {
            return NetworkSupport.of(hypervisor.networkUnsupportedReason(true), hypervisor.networkUnsupportedReason(false));
        } catch (VmException e) {
            return NetworkSupport.of(Optional.of(e.getMessage()), Optional.of(e.getMessage()));
        }
    }

    // ---- queries -----------------------------------------------------------------------------------------------

    /** The sandbox as it is now, with its usage up to date. */
    public SandboxRecord get(String id) {
        Sandbox sandbox = registry.find(id);
        registry.observeUsage(sandbox);
        return sandbox.current();
    }

    /** Sandboxes carrying all of {@code labels}, oldest first, with their usage up to date. */
    public List<SandboxRecord> list(Map<String, String> labels) {
        registry.all().forEach(registry::observeUsage);
        return registry.list(labels);
    }

    /**
     * What per-sandbox stats read of a sandbox now: its record (usage up to date), its VM and egress counters while it
     * holds a VM, and its agent session while it is READY and the session is up. Not activity: watching a sandbox's
     * stats does not keep it from its idle timeout.
     *
     * @throws SandboxNotFoundException when it does not exist (or no longer)
     */
    public SandboxResources resources(String id) {
        Sandbox sandbox = registry.find(id);
        registry.observeUsage(sandbox);
        SandboxRecord record = sandbox.current();
        VmHandle vm = sandbox.vm;
        boolean holding = record.state().holdsVm() && vm != null;
        ManagedChannel channel = record.state() == SandboxState.READY && sandbox.agent.isDone()
                && !sandbox.agent.isCompletedExceptionally() ? sandbox.agent.getNow(null) : null;
        return new SandboxResources(record, holding ? Optional.of(vm.record()) : Optional.empty(),
                networks.traffic(id).map(EgressTraffic::snapshot).orElse(EgressTraffic.Snapshot.NONE),
                Optional.ofNullable(channel));
    }

    /** Sandboxes that hold a VM now. */
    public int runningCount() {
        return registry.holdingVms().size();
    }

    // ---- agent access ------------------------------------------------------------------------------------------

    /**
     * The agent session of a READY sandbox, for exec and file calls; counts as activity. Waits while a re-adopted
     * sandbox's session is still being dialled.
     *
     * @throws SandboxStateException when the sandbox is not READY
     * @throws SandboxUnavailableException when its agent cannot be reached
     */
    public ManagedChannel agent(String id) throws InterruptedException {
        Sandbox found = registry.find(id);
        touch(found);
        if (IdleActions.needsResume(found)) {
            idle.resume(found, launcher);
        }
        Sandbox sandbox = readyForAgentCall(id);
        try {
            return sandbox.agent.get(settings.agentReadyTimeout().toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new SandboxUnavailableException("sandbox " + id + ": " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw agentNotBack(id);
        }
    }

    /**
     * {@link #agent}, without waiting: the session of a READY sandbox once it is there, for callers on threads that
     * must not block (stream callbacks). The future fails with what {@link #agent} throws: {@link
     * SandboxNotFoundException} and {@link SandboxStateException} at once, {@link SandboxUnavailableException} when the
     * dial fails or takes longer than the agent-ready timeout. Cancelling it gives up the wait and nothing else.
     */
    public CompletableFuture<ManagedChannel> agentAsync(String id) {
        Sandbox found;
        try {
            found = registry.find(id);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        touch(found);
        if (IdleActions.needsResume(found)) {
            // A resume starts a VMM and waits for its agent: never on the caller's thread, a stream callback.
            return CompletableFuture.runAsync(() -> {
                try {
                    idle.resume(found, launcher);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new SandboxUnavailableException("sandbox " + id + ": its resume was interrupted", e);
                }
            }, background).thenCompose(ignored -> readyAgentAsync(id));
        }
        return readyAgentAsync(id);
    }

    private CompletableFuture<ManagedChannel> readyAgentAsync(String id) {
        Sandbox sandbox;
        try {
            sandbox = readyForAgentCall(id);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        // A copy: a caller's timeout or cancel must not complete the sandbox's own session future.
        return sandbox.agent.copy().orTimeout(settings.agentReadyTimeout().toMillis(), TimeUnit.MILLISECONDS)
                .handle((channel, error) -> {
                    if (error == null) {
                        return channel;
                    }
                    Throwable cause = error instanceof CompletionException && error.getCause() != null
                            ? error.getCause() : error;
                    if (cause instanceof SandboxUnavailableException named) {
                        throw named; // a failed re-dial says which sandbox already
                    }
                    throw cause instanceof TimeoutException ? agentNotBack(id)
                            : new SandboxUnavailableException("sandbox " + id + ": " + cause.getMessage(), cause);
                });
    }

    /** A READY sandbox about to serve an agent call, which counts as activity. */
    private Sandbox readyForAgentCall(String id) {
        Sandbox sandbox = registry.find(id);
        SandboxRecord record = sandbox.record;
        if (record.state() != SandboxState.READY) {
            throw new SandboxStateException("sandbox " + id + " is " + SandboxRegistry.describe(record.state())
                    + (record.failureReason().isEmpty() ? "" : ": " + record.failureReason()) + "; it must be ready");
        }
        touch(sandbox);
        return sandbox;
    }

    private SandboxUnavailableException agentNotBack(String id) {
        return new SandboxUnavailableException("sandbox " + id + ": its agent session is not back yet after "
                + settings.agentReadyTimeout().toMillis() + " ms");
    }

    /**
     * {@link #exclusively}, but a sandbox a client paused is lent as it is, without its agent (null) and without being
     * resumed: its vCPUs are stopped already, which is all a fork's local snapshot needs, and it stays paused. A
     * sandbox its idle action paused or suspended is resumed first, as for any call that needs it.
     *
     * @throws SandboxStateException when the sandbox is neither READY nor paused by a client
     */
    public <T> T exclusivelyEvenPaused(String id, LiveSandbox.Operation<T> operation) throws InterruptedException {
        Sandbox sandbox = registry.find(id);
        sandbox.operations.lockInterruptibly();
        try {
            if (sandbox.record.state() == SandboxState.PAUSED && !IdleActions.needsResume(sandbox)) {
                return operation.run(new LiveSandbox(sandbox.current(), sandbox.vm, null));
            }
        } finally {
            sandbox.operations.unlock();
        }
        return exclusively(id, operation);
    }

    /**
     * Lends a READY sandbox's VM and agent to {@code operation} (a snapshot) while pause, resume and delete wait; exec
     * and file calls go on. Counts as activity.
     *
     * @throws SandboxStateException when the sandbox is not READY
     */
    public <T> T exclusively(String id, LiveSandbox.Operation<T> operation) throws InterruptedException {
        Sandbox sandbox = registry.find(id);
        sandbox.operations.lockInterruptibly();
        try {
            // Under the lock, which the idle action needs too: once the sandbox is READY here it stays so.
            ManagedChannel channel = agent(id);
            SandboxLifecycle.requireState(sandbox, SandboxState.READY, "snapshot");
            return operation.run(new LiveSandbox(sandbox.current(), sandbox.vm, channel));
        } finally {
            sandbox.operations.unlock();
        }
    }

    /** Why a sandbox cannot serve (it failed or is gone, or the daemon closes), to explain a broken agent stream. */
    public Optional<String> unavailabilityReason(String id) {
        if (closed) {
            return Optional.of("the daemon is shutting down; sandbox " + id + " runs on for the next daemon");
        }
        Optional<Sandbox> found = registry.lookup(id);
        if (found.isEmpty()) {
            return Optional.of("sandbox " + id + " was deleted");
        }
        SandboxRecord record = found.get().record;
        VmHandle vm = found.get().vm;
        if (record.state() == SandboxState.FAILED) {
            return Optional.of("sandbox " + id + " failed: " + record.failureReason());
        }
        if (vm != null && !vm.isAlive()) {
            return Optional.of("sandbox " + id + ": its VM exited; console:\n" + vm.consoleTail(VmLauncher.CONSOLE_TAIL_LINES));
        }
        return Optional.empty();
    }

    /**
     * Completes when {@link #unavailabilityReason} is worth asking for a broken agent stream: at once unless the
     * sandbox is READY with a VM that looks alive, else when that VM ends or {@link SandboxSettings#vmExitVisibleWithin()}
     * has passed: a stream that broke because the VM is dying is then explained by the death. It never fails.
     */
    public CompletableFuture<Void> settledAsync(String id) {
        Optional<Sandbox> found = registry.lookup(id);
        VmHandle vm = found.map(s -> s.vm).orElse(null);
        if (closed || vm == null || found.get().record.state() != SandboxState.READY
                || settings.vmExitVisibleWithin().isZero()) {
            return CompletableFuture.completedFuture(null);
        }
        return vm.exited().copy().completeOnTimeout(null, settings.vmExitVisibleWithin().toMillis(), TimeUnit.MILLISECONDS)
                .handle((ignored, error) -> (Void) null);
    }

    /**
     * The env every process of the sandbox starts with (its own, and the proxy settings of egress): it travels with
     * each exec, so a warm-pool VM, configured before anyone asked for its sandbox, needs no agent call on Create.
     */
    public Map<String, String> guestEnv(String id) {
        return SandboxNetworks.guestEnv(registry.find(id).record.config());
    }

    /**
     * What every exec in the sandbox starts from: {@link #guestEnv}, and for a sandbox from an OCI image that image's
     * Env (under the sandbox's), WorkingDir, User and Entrypoint + Cmd.
     */
    public ExecDefaults execDefaults(String id) {
        return registry.find(id).record.execDefaults();
    }

    /** Records activity now, which postpones an idle timeout. */
    public void touch(String id) {
        touch(registry.find(id));
    }

    /**
     * Counts a call or stream that needs the guest as in flight until {@link InFlight#close}: no idle action runs on
     * the sandbox meanwhile (ADR 0029). Take it before asking for the agent session.
     *
     * @throws SandboxNotFoundException when the sandbox does not exist
     */
    public InFlight inFlight(String id) {
        Sandbox sandbox = registry.find(id);
        sandbox.calls.incrementAndGet();
        touch(sandbox);
        return new InFlight(sandbox);
    }

    /** A call in flight; closing it more than once counts once. */
    public final class InFlight implements AutoCloseable {
        private final Sandbox sandbox;
        private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

        private InFlight(Sandbox sandbox) {
            this.sandbox = sandbox;
        }

        @Override
        public void close() {
            if (closed.compareAndSet(false, true)) {
                touch(sandbox);
                sandbox.calls.decrementAndGet();
            }
        }
    }

    private void touch(Sandbox sandbox) {
        // In memory only, without the monitor: the hot path neither waits for a pause nor writes; the reaper saves it.
        sandbox.lastActivityMs = Math.max(sandbox.lastActivityMs, clock.millis());
    }

    /**
     * Closes agent sessions (ending their streams) and leaves every sandbox's VM running for the next daemon; warm
     * pool VMs, which have no record, are destroyed. Activity kept in memory is saved. RAM files that no runtime
     * directory owns (package memory frozen by restores) are removed.
     */
    @Override
    public void close() {
        closed = true;
        supervision.close();
        registry.persistInMemoryState(true);
        registry.events().close();
        capacity.close();
        for (Sandbox sandbox : registry.all()) {
            sandbox.agent.thenAccept(VmLauncher::closeQuietly);
        }
        networks.close();
        // Package memory frozen during this run goes (the next start would sweep it, but its state directory may
        // never see another daemon); the RAM of VMs that run on, and of a fork still under way, stays.
        hypervisor.removeOrphanMemory(java.util.Set.copyOf(registry.store().runtimeDirIds()));
    }
}
