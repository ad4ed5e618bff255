package dev.kelpie.daemon.sandboxes;

import dev.kelpie.agent.v1.AgentGrpc;
import dev.kelpie.agent.v1.ConfigureRequest;
import dev.kelpie.daemon.agent.AgentConnector;
import dev.kelpie.daemon.agent.AgentDialer;
import dev.kelpie.daemon.agent.AgentUnavailableException;
import dev.kelpie.daemon.agent.GuestRefresh;
import dev.kelpie.daemon.hypervisor.Hypervisor;
import dev.kelpie.daemon.hypervisor.SavedVmState;
import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.VmHandle;
import dev.kelpie.daemon.hypervisor.VmOperationUnsupportedException;
import dev.kelpie.daemon.hypervisor.VmPlatform;
import dev.kelpie.daemon.hypervisor.VmSpec;
import dev.kelpie.daemon.images.BootImage;
import dev.kelpie.daemon.images.ImageSource;
import dev.kelpie.daemon.network.EgressGateway;
import dev.kelpie.daemon.network.NetworkMode;
import dev.kelpie.daemon.network.NetworkPolicy;
import dev.kelpie.daemon.network.NetworkSupport;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;
import org.jboss.logging.Logger;

/**
 * Owns every sandbox: boots its VM, proves its agent, tracks its state durably, notices when its VM dies, and finds
 * running VMs again after a daemon restart. All time comes from the injected clock and all background work runs on
 * the injected executor, so a simulation can drive this class step by step.
 */
public final class SandboxManager implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(SandboxManager.class);
    static final int CONSOLE_TAIL_LINES = 20;
    private static final long AGENT_CALL_TIMEOUT_MS = 10_000;

    private final Hypervisor hypervisor;
    private final ImageSource images;
    private final AgentConnector agents;
    private final SandboxStore store;
    private final Clock clock;
    private final Admission admission;
    private final SandboxSettings settings;
    private final Supplier<String> ids;
    private final Executor background;
    private final SandboxEvents events = new SandboxEvents();
    private final Map<String, Sandbox> sandboxes = new ConcurrentHashMap<>();
    private final SandboxNetworks networks;
    private final Semaphore bootSlots;
    private volatile WarmPool pool;
    private volatile boolean closed;
    /** Serialises admission with the registration of the admitted sandbox. */
    private final Object admissionLock = new Object();

    /** A manager whose sandboxes cannot have egress. */
    public SandboxManager(Hypervisor hypervisor, ImageSource images, AgentConnector agents, SandboxStore store,
            Clock clock, SandboxLimits limits, SandboxSettings settings, Supplier<String> ids, Executor background) {
        this(hypervisor, images, agents, store, clock, limits, settings, ids, background, SandboxNetworks.NO_EGRESS);
    }

    public SandboxManager(Hypervisor hypervisor, ImageSource images, AgentConnector agents, SandboxStore store,
            Clock clock, SandboxLimits limits, SandboxSettings settings, Supplier<String> ids, Executor background,
            EgressGateway egress) {
        this.networks = new SandboxNetworks(egress, store::runtimeDir);
        this.hypervisor = hypervisor;
        this.images = images;
        this.agents = agents;
        this.store = store;
        this.clock = clock;
        this.admission = new Admission(limits);
        this.settings = settings;
        this.ids = ids;
        this.background = background;
        this.bootSlots = new Semaphore(settings.maxConcurrentBoots(), true);
    }

    public SandboxEvents events() {
        return events;
    }

    public String backendName() {
        return hypervisor.name();
    }

    /** The platform new VMs run on here, which a saved VM state must match. */
    public VmPlatform vmPlatform() {
        return hypervisor.platform(settings.hostArch());
    }

    /** The guest arch of new sandboxes. */
    public String hostArch() {
        return settings.hostArch();
    }

    // ---- create ------------------------------------------------------------------------------------------------

    /**
     * Boots a sandbox and returns it READY. A failed create leaves nothing behind: no process, no files, no record.
     *
     * @throws AdmissionDeniedException when the host has no room
     * @throws SandboxUnavailableException when the VM or its agent did not come up, with the console's tail
     */
    public SandboxRecord create(SandboxConfig requested) throws InterruptedException {
        return create(requested, Launch.COLD_BOOT);
    }

    /**
     * Creates a sandbox that comes up as {@code launch} says (a restore resumes a saved VM or imports a workspace);
     * otherwise exactly like {@link #create(SandboxConfig)}, with the same guarantee that a failure leaves nothing.
     */
    public SandboxRecord create(SandboxConfig requested, Launch launch) throws InterruptedException {
        SandboxConfig config = withDefaults(requested);
        admission.checkShape(config);
        BootImage image = images.resolve(config.imageVersion(), settings.hostArch());
        checkDiskSize(config, image);
        checkNetwork(config.network());
        boolean resume = launch.resumeFrom().isPresent();
        // Pooled VMs have no network device, so a sandbox with one boots its own.
        Optional<PooledVm> pooled = resume || pool == null || config.network().needsDevice()
                || !pool.key().equals(poolKeyOf(image, config)) ? Optional.empty() : pool.take();
        long now = clock.millis();
        String id = pooled.map(PooledVm::id).orElseGet(ids);
        SandboxRecord initial = new SandboxRecord(id, config, SandboxState.CREATING, "", now, hypervisor.name(),
                image.arch(), image.version(), pooled.isPresent(), null, now, launch.restoredFromPackageId());
        Sandbox sandbox = new Sandbox(initial);
        synchronized (admissionLock) {
            try {
                admission.admit(config, running(), pool == null ? 0 : pool.memoryMib());
            } catch (AdmissionDeniedException e) {
                pooled.ifPresent(vm -> vm.discard().run());
                throw e;
            }
            sandboxes.put(sandbox.id(), sandbox);
        }
        store.save(initial);
        events.publish(new SandboxEvent(initial, null));
        PooledVm booted = null;
        try {
            booted = pooled.isPresent() ? pooled.get()
                    : bootVm(id, image, config.vcpuCount(), config.memoryMib(), config.network(), launch.resumeFrom());
            PooledVm vm = booted;
            sandbox.vm = vm.vm();
            update(sandbox, r -> r.withVm(vm.vm().record()));
            if (!resume) {
                configureAgent(sandbox, vm.agent());
            }
            launch.beforeReady().run(vm.agent());
            sandbox.agent.complete(vm.agent());
            watchVm(sandbox, vm.vm());
            update(sandbox, r -> r.withState(SandboxState.READY));
            LOG.infof("sandbox %s ready on %s, image %s%s", id, vm.vm().describe(), image.version(),
                    pooled.isPresent() ? " (from the warm pool)" : resume ? " (resumed from a saved VM state)" : "");
        } catch (RuntimeException | InterruptedException e) {
            discard(sandbox, booted == null ? null : booted.agent());
            throw e;
        }
        return sandbox.record;
    }

    private SandboxConfig withDefaults(SandboxConfig c) {
        return new SandboxConfig(c.imageVersion(), c.vcpuCount() == 0 ? settings.defaultVcpuCount() : c.vcpuCount(),
                c.memoryMib() == 0 ? settings.defaultMemoryMib() : c.memoryMib(), c.diskSizeMib(), c.env(), c.labels(),
                c.ttlMs(), c.idleTimeoutMs(), c.network());
    }

    /** A policy the backend cannot enforce is refused before anything boots. */
    private void checkNetwork(NetworkPolicy network) {
        if (network.needsDevice()) {
            hypervisor.networkUnsupportedReason(network.mode() == NetworkMode.EGRESS).ifPresent(reason -> {
                throw new VmOperationUnsupportedException("network policy (" + network.reachability() + "): " + reason);
            });
        }
    }

    private static void checkDiskSize(SandboxConfig config, BootImage image) {
        if (config.diskSizeMib() != 0 && config.diskSizeMib() != image.diskTemplateSizeMib()) {
            throw new AdmissionDeniedException("disk_size_mib " + config.diskSizeMib() + " differs from image "
                    + image.version() + "'s writable disk of " + image.diskTemplateSizeMib()
                    + " MiB; resizing is not supported yet (ask for 0 or " + image.diskTemplateSizeMib() + ")");
        }
    }

    private static WarmPool.PoolKey poolKeyOf(BootImage image, SandboxConfig config) {
        return new WarmPool.PoolKey(image.version(), image.arch(), config.vcpuCount(), config.memoryMib());
    }

    /**
     * Boots a VM and proves its agent, within a boot slot. On failure nothing of it remains.
     *
     * @throws SandboxUnavailableException with the console's tail when the VM or its agent did not come up
     */
    private PooledVm bootVm(String id, BootImage image, int vcpuCount, int memoryMib, NetworkPolicy network,
            Optional<SavedVmState> resumeFrom) throws InterruptedException {
        VmHandle vm = null;
        bootSlots.acquire();
        try {
            VmSpec spec = new VmSpec(id, store.runtimeDir(id), image, vcpuCount, memoryMib, image.diskTemplateSizeMib(),
                    networks.attach(id, network));
            vm = resumeFrom.isPresent() ? hypervisor.restore(spec, resumeFrom.get()) : hypervisor.boot(spec);
            ManagedChannel channel = dialAgent(id, vm);
            VmHandle booted = vm;
            return new PooledVm(id, image, vm, channel, () -> destroy(id, booted, channel));
        } catch (VmException e) {
            destroy(id, vm, null);
            throw new SandboxUnavailableException("sandbox " + id + " could not start its VM: " + e.getMessage(), e);
        } catch (RuntimeException | InterruptedException e) {
            destroy(id, vm, null);
            throw e;
        } finally {
            bootSlots.release();
        }
    }

    /** Kills a VM that serves no sandbox and removes its files. */
    private void destroy(String id, VmHandle vm, ManagedChannel channel) {
        if (channel != null) {
            closeQuietly(channel);
        }
        if (vm != null) {
            vm.kill();
            try {
                vm.exited().get(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException | TimeoutException e) {
                LOG.errorf("VM %s (%s) did not end after SIGKILL", id, vm.describe());
            }
        }
        removeRuntime(id);
    }

    /** Ends any VMM process left in a VM's runtime directory, then removes the directory: sockets, disk, logs. */
    private void removeRuntime(String id) {
        networks.detach(id);
        hypervisor.killLeftovers(store.runtimeDir(id));
        store.deleteRuntimeDir(id);
    }

    // ---- warm pool -------------------------------------------------------------------------------------------

    /**
     * Starts a warm pool of {@code size} VMs of the default shape on the newest image; 0 means none. Call after
     * {@link #recover()}.
     */
    public void startWarmPool(int size) {
        if (size <= 0) {
            return;
        }
        BootImage image = images.resolve("", settings.hostArch());
        WarmPool.PoolKey key = new WarmPool.PoolKey(image.version(), image.arch(), settings.defaultVcpuCount(),
                settings.defaultMemoryMib());
        pool = new WarmPool(key, size, k -> bootVm(ids.get(), images.resolve(k.imageVersion(), k.arch()), k.vcpuCount(),
                k.memoryMib(), NetworkPolicy.NONE, Optional.empty()), background);
        pool.refill();
        LOG.infof("warm pool of %d VMs for image %s (%d vCPU, %d MiB)", size, image.version(), key.vcpuCount(),
                key.memoryMib());
    }

    /** Tops the warm pool up after failed refills; takes refill on their own. */
    public void refillWarmPool() {
        if (pool != null) {
            pool.refill();
        }
    }

    /** The warm pool's state, if there is one. */
    public Optional<WarmPoolStatus> warmPoolStatus() {
        if (pool == null) {
            return Optional.empty();
        }
        WarmPool.Status s = pool.status();
        return Optional.of(new WarmPoolStatus(s.key().imageVersion(), s.key().arch(), s.key().vcpuCount(),
                s.key().memoryMib(), s.targetSize(), s.ready(), s.booting(), s.takenTotal(), s.failedBootsTotal(),
                s.lastError()));
    }

    /**
     * How many sandboxes and pooled VMs boot from each image, by "VERSION/ARCH"; a pool counts as a user even while
     * empty, since it refills from its image.
     */
    public Map<String, Integer> imageUsage() {
        Map<String, Integer> usage = new java.util.HashMap<>();
        for (SandboxRecord r : list(Map.of())) {
            if (r.state().holdsVm()) {
                usage.merge(r.imageVersion() + "/" + settings.hostArch(), 1, Integer::sum);
            }
        }
        warmPoolStatus().ifPresent(p -> usage.merge(p.imageVersion() + "/" + p.arch(),
                Math.max(1, p.ready() + p.booting()), Integer::sum));
        return usage;
    }

    /** What network policies new sandboxes can have on the backend serving now. */
    public NetworkSupport networkSupport() {
        try {
            return NetworkSupport.of(hypervisor.networkUnsupportedReason(true), hypervisor.networkUnsupportedReason(false));
        } catch (VmException e) {
            return NetworkSupport.of(Optional.of(e.getMessage()), Optional.of(e.getMessage()));
        }
    }

    /** Sandboxes that hold a VM now. */
    public int runningCount() {
        return running().size();
    }

    private ManagedChannel dialAgent(String id, VmHandle vm) throws InterruptedException {
        try {
            return agents.dial(vm.record().agentSocket(), settings.agentReadyTimeout());
        } catch (AgentUnavailableException e) {
            throw new SandboxUnavailableException("sandbox " + id + ": the agent did not answer within "
                    + settings.agentReadyTimeout().toMillis() + " ms (" + e.getMessage() + "); "
                    + (vm.isAlive() ? "VM still running" : "VM exited") + "; console:\n" + vm.consoleTail(CONSOLE_TAIL_LINES), e);
        }
    }

    /** Hands the sandbox's settings to the agent: env and limits never travel on the kernel command line. */
    private void configureAgent(Sandbox sandbox, ManagedChannel channel) {
        SandboxConfig config = sandbox.record.config();
        int userMemoryMib = Math.max(32, config.memoryMib() - settings.guestReservedMib());
        ConfigureRequest.Builder request = ConfigureRequest.newBuilder().setHostname(sandbox.id())
                .putAllEnv(SandboxNetworks.guestEnv(config)).setUserMemoryLimitMib(userMemoryMib)
                .setUserPidsLimit(settings.userPidsLimit());
        SandboxNetworks.guestConfig(config.network()).ifPresent(request::setNetwork);
        try {
            AgentGrpc.newBlockingStub(channel).withDeadlineAfter(AGENT_CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS)
                    .configure(request.build());
        } catch (StatusRuntimeException e) {
            throw new SandboxUnavailableException("sandbox " + sandbox.id() + ": the agent refused its configuration: "
                    + e.getStatus(), e);
        }
    }

    /** Undoes a create that did not finish: the VM, its files and its record go; watchers see it stop. */
    private void discard(Sandbox sandbox, ManagedChannel channel) {
        destroy(sandbox.id(), sandbox.vm, channel);
        store.delete(sandbox.id());
        sandboxes.remove(sandbox.id());
        SandboxRecord last = sandbox.record;
        events.publish(new SandboxEvent(last.withState(SandboxState.STOPPED).withVm(null), last.state()));
    }

    // ---- queries -----------------------------------------------------------------------------------------------

    public SandboxRecord get(String id) {
        return find(id).record;
    }

    /** Sandboxes carrying all of {@code labels}, oldest first. */
    public List<SandboxRecord> list(Map<String, String> labels) {
        return sandboxes.values().stream().map(s -> s.record)
                .filter(r -> labels.entrySet().stream().allMatch(l -> l.getValue().equals(r.config().labels().get(l.getKey()))))
                .sorted(java.util.Comparator.comparingLong(SandboxRecord::createdAtMs).thenComparing(SandboxRecord::id))
                .toList();
    }

    private Collection<SandboxRecord> running() {
        return sandboxes.values().stream().map(s -> s.record).filter(r -> r.state().holdsVm()).toList();
    }

    private Sandbox find(String id) {
        Sandbox sandbox = sandboxes.get(id);
        if (sandbox == null) {
            throw new SandboxNotFoundException(id);
        }
        return sandbox;
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
        Sandbox sandbox = find(id);
        SandboxRecord record = sandbox.record;
        if (record.state() != SandboxState.READY) {
            throw new SandboxStateException("sandbox " + id + " is " + record.state().name().toLowerCase()
                    + (record.failureReason().isEmpty() ? "" : ": " + record.failureReason()) + "; it must be ready");
        }
        touch(sandbox);
        try {
            return sandbox.agent.get(settings.agentReadyTimeout().toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new SandboxUnavailableException("sandbox " + id + ": " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new SandboxUnavailableException("sandbox " + id + ": its agent session is not back yet after "
                    + settings.agentReadyTimeout().toMillis() + " ms");
        }
    }

    /**
     * {@link #agent}, without waiting: the session of a READY sandbox once it is there, for callers on threads that
     * must not block (stream callbacks). The future fails with what {@link #agent} throws: {@link
     * SandboxNotFoundException} and {@link SandboxStateException} at once, {@link SandboxUnavailableException} when the
     * dial fails or takes longer than the agent-ready timeout. Cancelling it gives up the wait and nothing else.
     */
    public CompletableFuture<ManagedChannel> agentAsync(String id) {
        Sandbox sandbox;
        try {
            sandbox = find(id);
            SandboxRecord record = sandbox.record;
            if (record.state() != SandboxState.READY) {
                throw new SandboxStateException("sandbox " + id + " is " + record.state().name().toLowerCase()
                        + (record.failureReason().isEmpty() ? "" : ": " + record.failureReason()) + "; it must be ready");
            }
            touch(sandbox);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        long timeoutMs = settings.agentReadyTimeout().toMillis();
        // A copy: a caller's timeout or cancel must not complete the sandbox's own session future.
        return sandbox.agent.copy().orTimeout(timeoutMs, TimeUnit.MILLISECONDS).handle((channel, error) -> {
            if (error == null) {
                return channel;
            }
            Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
            if (cause instanceof SandboxUnavailableException named) {
                throw named; // a failed re-dial says which sandbox already
            }
            throw cause instanceof TimeoutException
                    ? new SandboxUnavailableException("sandbox " + id + ": its agent session is not back yet after "
                            + timeoutMs + " ms")
                    : new SandboxUnavailableException("sandbox " + id + ": " + cause.getMessage(), cause);
        });
    }

    /**
     * Completes when {@link #unavailabilityReason} is worth asking for a broken agent stream: at once unless the
     * sandbox is READY with a VM that looks alive, else when that VM ends or {@link SandboxSettings#vmExitVisibleWithin()}
     * has passed. The non-blocking form of {@link #unavailabilityReasonOnceSettled}; it never fails.
     */
    public CompletableFuture<Void> settledAsync(String id) {
        Sandbox sandbox = sandboxes.get(id);
        VmHandle vm = sandbox == null ? null : sandbox.vm;
        if (closed || vm == null || sandbox.record.state() != SandboxState.READY || settings.vmExitVisibleWithin().isZero()) {
            return CompletableFuture.completedFuture(null);
        }
        return vm.exited().copy().completeOnTimeout(null, settings.vmExitVisibleWithin().toMillis(), TimeUnit.MILLISECONDS)
                .handle((ignored, error) -> (Void) null);
    }

    /**
     * Lends a READY sandbox's VM and agent to {@code operation} (a snapshot) while pause, resume and delete wait; exec
     * and file calls go on. Counts as activity.
     *
     * @throws SandboxStateException when the sandbox is not READY
     */
    public <T> T exclusively(String id, LiveSandbox.Operation<T> operation) throws InterruptedException {
        Sandbox sandbox = find(id);
        ManagedChannel channel = agent(id);
        sandbox.operations.lockInterruptibly();
        try {
            SandboxRecord record = sandbox.record;
            if (record.state() != SandboxState.READY) {
                throw new SandboxStateException("sandbox " + id + " is " + record.state().name().toLowerCase()
                        + "; it must be ready");
            }
            return operation.run(new LiveSandbox(record, sandbox.vm, channel));
        } finally {
            sandbox.operations.unlock();
        }
    }

    /** Why a sandbox cannot serve (it failed or is gone, or the daemon closes), to explain a broken agent stream. */
    public Optional<String> unavailabilityReason(String id) {
        if (closed) {
            return Optional.of("the daemon is shutting down; sandbox " + id + " runs on for the next daemon");
        }
        Sandbox sandbox = sandboxes.get(id);
        if (sandbox == null) {
            return Optional.of("sandbox " + id + " was deleted");
        }
        SandboxRecord record = sandbox.record;
        VmHandle vm = sandbox.vm;
        if (record.state() == SandboxState.FAILED) {
            return Optional.of("sandbox " + id + " failed: " + record.failureReason());
        }
        if (vm != null && !vm.isAlive()) {
            return Optional.of("sandbox " + id + ": its VM exited; console:\n" + vm.consoleTail(CONSOLE_TAIL_LINES));
        }
        return Optional.empty();
    }

    /**
     * {@link #unavailabilityReason}, but for a READY sandbox whose VM still looks alive it first waits up to
     * {@link SandboxSettings#vmExitVisibleWithin()} for the VM to end: a stream that broke because the VM is dying
     * is then explained by the death. A VM that is really alive costs the caller that wait.
     */
    public Optional<String> unavailabilityReasonOnceSettled(String id) throws InterruptedException {
        Sandbox sandbox = sandboxes.get(id);
        VmHandle vm = sandbox == null ? null : sandbox.vm;
        if (!closed && vm != null && sandbox.record.state() == SandboxState.READY) {
            try {
                vm.exited().get(settings.vmExitVisibleWithin().toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException | TimeoutException e) {
                // still alive (or its end cannot be told): the transport error stands
            }
        }
        return unavailabilityReason(id);
    }

    /** Records activity now, which postpones an idle timeout. */
    public void touch(String id) {
        touch(find(id));
    }

    private void touch(Sandbox sandbox) {
        long now = clock.millis();
        // Activity is advisory: kept in memory at once, persisted with the next state change.
        synchronized (sandbox) {
            sandbox.record = sandbox.record.withActivity(now);
        }
    }

    // ---- lifecycle ---------------------------------------------------------------------------------------------

    public SandboxRecord pause(String id) {
        Sandbox sandbox = find(id);
        sandbox.operations.lock();
        try {
            synchronized (sandbox) {
                requireState(sandbox, SandboxState.READY, "pause");
                sandbox.vm.pause();
                return update(sandbox, r -> r.withState(SandboxState.PAUSED));
            }
        } finally {
            sandbox.operations.unlock();
        }
    }

    /** Thaws the VM and steps the guest clock, which stood still while paused. */
    public SandboxRecord resume(String id) {
        Sandbox sandbox = find(id);
        SandboxRecord resumed;
        sandbox.operations.lock();
        try {
            synchronized (sandbox) {
                requireState(sandbox, SandboxState.PAUSED, "resume");
                sandbox.vm.resume();
                resumed = update(sandbox, r -> r.withState(SandboxState.READY));
            }
        } finally {
            sandbox.operations.unlock();
        }
        sandbox.agent.thenAccept(channel -> syncClock(sandbox, channel));
        return resumed;
    }

    private void syncClock(Sandbox sandbox, ManagedChannel channel) {
        try {
            GuestRefresh.syncClock(channel, clock.millis());
        } catch (StatusRuntimeException e) {
            LOG.warnf("sandbox %s: clock sync after resume failed: %s", sandbox.id(), e.getStatus());
        }
    }

    private static void requireState(Sandbox sandbox, SandboxState expected, String action) {
        SandboxState state = sandbox.record.state();
        if (state != expected) {
            throw new SandboxStateException("cannot " + action + " sandbox " + sandbox.id() + ": it is "
                    + state.name().toLowerCase() + ", not " + expected.name().toLowerCase());
        }
    }

    /** Stops the VM and removes everything the sandbox owned. Deleting a failed sandbox only removes its record. */
    public void delete(String id) throws InterruptedException {
        Sandbox sandbox = find(id);
        sandbox.operations.lockInterruptibly();
        try {
            synchronized (sandbox) {
                if (sandbox.record.state() == SandboxState.STOPPING || sandbox.record.state() == SandboxState.STOPPED) {
                    return;
                }
                update(sandbox, r -> r.withState(SandboxState.STOPPING));
            }
        } finally {
            sandbox.operations.unlock();
        }
        sandbox.agent.thenAccept(SandboxManager::closeQuietly);
        VmHandle vm = sandbox.vm;
        if (vm != null) {
            vm.stop(settings.stopGrace());
        }
        removeRuntime(id);
        store.delete(id);
        sandboxes.remove(id);
        SandboxRecord last = sandbox.record;
        events.publish(new SandboxEvent(last.withState(SandboxState.STOPPED).withVm(null), last.state()));
        LOG.infof("sandbox %s deleted", id);
    }

    /** Deletes sandboxes past their TTL or idle timeout; returns the ids deleted. */
    public List<String> reapExpired() throws InterruptedException {
        long now = clock.millis();
        List<String> reaped = new ArrayList<>();
        // Creation order, not the map's: one seed must replay the same run.
        for (SandboxRecord r : list(Map.of())) {
            if (r.state() != SandboxState.READY && r.state() != SandboxState.PAUSED) {
                continue;
            }
            boolean expired = r.config().ttlMs() > 0 && now - r.createdAtMs() >= r.config().ttlMs();
            boolean idle = r.config().idleTimeoutMs() > 0 && now - r.lastActivityMs() >= r.config().idleTimeoutMs();
            if (expired || idle) {
                LOG.infof("sandbox %s: %s; deleting", r.id(), expired ? "TTL expired" : "idle timeout reached");
                try {
                    delete(r.id());
                    reaped.add(r.id());
                } catch (RuntimeException e) {
                    // One sandbox that cannot be deleted must not spare the others.
                    LOG.errorf(e, "sandbox %s: deleting it failed; reaping the others goes on", r.id());
                }
            }
        }
        return reaped;
    }

    // ---- supervision -------------------------------------------------------------------------------------------

    private void watchVm(Sandbox sandbox, VmHandle vm) {
        vm.exited().thenRun(() -> onVmExit(sandbox, vm));
    }

    private void onVmExit(Sandbox sandbox, VmHandle vm) {
        if (closed) {
            return; // the next daemon owns the records now and will find the VM gone
        }
        String reason;
        synchronized (sandbox) {
            SandboxState state = sandbox.record.state();
            if (sandbox.vm != vm || state == SandboxState.STOPPING || state == SandboxState.STOPPED
                    || state == SandboxState.FAILED) {
                return;
            }
            reason = "its VM (" + vm.describe() + ") exited unexpectedly; console:\n" + vm.consoleTail(CONSOLE_TAIL_LINES);
            update(sandbox, r -> r.failed(reason));
        }
        LOG.errorf("sandbox %s failed: %s", sandbox.id(), reason);
        sandbox.agent.thenAccept(SandboxManager::closeQuietly);
        // Sockets and the disk of a dead VM are of no use; the record stays, so Get explains the failure.
        networks.detach(sandbox.id());
        store.deleteRuntimeDir(sandbox.id());
    }

    /**
     * Finds the sandboxes of an earlier daemon: VMs that still run (same pid and start time) are adopted and their
     * agent sessions dialled in the background; the rest are marked FAILED; deletes that were under way are finished;
     * VM directories without a record lose their processes and files. Call once, before serving.
     */
    public void recover() {
        for (SandboxRecord record : store.loadAll()) {
            if (record.state() == SandboxState.STOPPING) {
                finishDelete(record);
                continue;
            }
            Sandbox sandbox = new Sandbox(record);
            sandboxes.put(record.id(), sandbox);
            if (!record.state().holdsVm()) {
                continue;
            }
            Optional<VmHandle> vm = record.vm() == null || record.state() == SandboxState.CREATING
                    ? Optional.empty() : hypervisor.adopt(record.vm());
            if (vm.isEmpty()) {
                String reason = record.state() == SandboxState.CREATING
                        ? "the daemon stopped while the sandbox was being created"
                        : "its VM ended while the daemon was down";
                removeRuntime(record.id());
                update(sandbox, r -> r.failed(reason));
                LOG.warnf("sandbox %s: %s", record.id(), reason);
                continue;
            }
            sandbox.vm = vm.get();
            if (record.config().network().mode() == NetworkMode.EGRESS) {
                networks.reopenEgress(record.id(), record.config().network());
            }
            if (record.state() == SandboxState.READY) {
                thaw(sandbox, vm.get());
            }
            watchVm(sandbox, vm.get());
            background.execute(() -> redial(sandbox, vm.get()));
            LOG.infof("sandbox %s re-adopted: %s", record.id(), vm.get().describe());
        }
        for (String dirId : store.runtimeDirIds()) {
            if (!sandboxes.containsKey(dirId) || !sandboxes.get(dirId).record.state().holdsVm()) {
                removeRuntime(dirId);
            }
        }
    }

    /**
     * A sandbox whose delete a dying daemon did not finish: it was asked to go, so it goes now — VM, files, record —
     * rather than stay STOPPING, which a new Delete would take as already under way.
     */
    private void finishDelete(SandboxRecord record) {
        Optional<VmHandle> vm = record.vm() == null ? Optional.empty() : hypervisor.adopt(record.vm());
        vm.ifPresent(VmHandle::kill);
        removeRuntime(record.id());
        store.delete(record.id());
        LOG.infof("sandbox %s: finished its delete, which the previous daemon began", record.id());
    }

    /**
     * A daemon that died during a snapshot may have left a READY sandbox's vCPUs stopped (the save pauses the guest);
     * resuming a running VM changes nothing, so every READY VM is resumed on adoption.
     */
    private static void thaw(Sandbox sandbox, VmHandle vm) {
        try {
            vm.resume();
        } catch (VmException e) {
            LOG.warnf("sandbox %s: resuming its re-adopted VM failed: %s", sandbox.id(), e.getMessage());
        }
    }

    private void redial(Sandbox sandbox, VmHandle vm) {
        try {
            sandbox.agent.complete(agents.dial(vm.record().agentSocket(), settings.agentReadyTimeout()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            sandbox.agent.completeExceptionally(e);
        } catch (RuntimeException e) {
            String reason = "the agent of its re-adopted VM did not answer: " + e.getMessage();
            sandbox.agent.completeExceptionally(new SandboxUnavailableException("sandbox " + sandbox.id() + ": " + reason, e));
            failUnreachable(sandbox, vm, reason);
        }
    }

    /**
     * A re-adopted sandbox whose agent is gone can serve nothing: it fails (so it is not reported READY) and its VM,
     * which a FAILED sandbox no longer holds, is killed with its files.
     */
    private void failUnreachable(Sandbox sandbox, VmHandle vm, String reason) {
        synchronized (sandbox) {
            SandboxState state = sandbox.record.state();
            if (sandbox.vm != vm || state == SandboxState.STOPPING || state == SandboxState.STOPPED
                    || state == SandboxState.FAILED) {
                return;
            }
            update(sandbox, r -> r.failed(reason));
        }
        LOG.errorf("sandbox %s failed: %s", sandbox.id(), reason);
        vm.kill();
        removeRuntime(sandbox.id());
    }

    /**
     * Closes agent sessions (ending their streams) and leaves every sandbox's VM running for the next daemon; warm
     * pool VMs, which have no record, are destroyed.
     */
    @Override
    public void close() {
        closed = true;
        events.close();
        if (pool != null) {
            pool.close();
        }
        for (Sandbox sandbox : sandboxes.values()) {
            sandbox.agent.thenAccept(SandboxManager::closeQuietly);
        }
        networks.close();
    }

    // ---- helpers -----------------------------------------------------------------------------------------------

    private SandboxRecord update(Sandbox sandbox, UnaryOperator<SandboxRecord> change) {
        synchronized (sandbox) {
            SandboxRecord previous = sandbox.record;
            SandboxRecord next = change.apply(previous);
            sandbox.record = next;
            store.save(next);
            if (next.state() != previous.state()) {
                events.publish(new SandboxEvent(next, previous.state()));
            }
            return next;
        }
    }

    private static void closeQuietly(ManagedChannel channel) {
        try {
            AgentDialer.close(channel);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            LOG.debugf("closing an agent channel: %s", e.getMessage());
        }
    }
}
