package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.agent.GuestRefresh;
import dev.kelpie.daemon.hypervisor.GuestArchUnavailableException;
import dev.kelpie.daemon.hypervisor.Hypervisor;
import dev.kelpie.daemon.hypervisor.VmHandle;
import dev.kelpie.daemon.hypervisor.VmOperationUnsupportedException;
import dev.kelpie.daemon.images.BootImage;
import dev.kelpie.daemon.images.oci.OciBoot;
import dev.kelpie.daemon.images.oci.OciBootSource;
import dev.kelpie.daemon.images.oci.OciImageConfig;
import dev.kelpie.daemon.images.ImageSource;
import dev.kelpie.daemon.network.NetworkMode;
import dev.kelpie.daemon.network.NetworkPolicy;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * What users do to a sandbox: create, pause, resume, delete. Operations on one sandbox are ordered: pause, resume,
 * delete and snapshots take its operations lock, and every record change goes through the registry's lifecycle
 * check. A Delete of a sandbox being created wins: it interrupts the boot, waits for the create to undo it, and the
 * create answers that its sandbox was deleted.
 */
final class SandboxLifecycle {

    private static final Logger LOG = Logger.getLogger(SandboxLifecycle.class);

    private final Hypervisor hypervisor;
    private final ImageSource images;
    private final SandboxRegistry registry;
    private final Capacity capacity;
    private final VmLauncher launcher;
    private final VmSupervision supervision;
    private final SandboxSettings settings;
    private final Clock clock;
    private final Supplier<String> ids;
    private final UsageAccounting usage;
    private final IdleActions idle;

    private final OciBootSource oci;

    SandboxLifecycle(Hypervisor hypervisor, ImageSource images, SandboxRegistry registry, Capacity capacity,
            VmLauncher launcher, VmSupervision supervision, SandboxSettings settings, Clock clock, Supplier<String> ids,
            UsageAccounting usage, IdleActions idle, OciBootSource oci) {
        this.idle = idle;
        this.oci = oci;
        this.hypervisor = hypervisor;
        this.images = images;
        this.registry = registry;
        this.capacity = capacity;
        this.launcher = launcher;
        this.supervision = supervision;
        this.settings = settings;
        this.clock = clock;
        this.ids = ids;
        this.usage = usage;
    }

    // ---- create ------------------------------------------------------------------------------------------------

    SandboxRecord create(SandboxConfig requested, Launch launch) throws InterruptedException {
        SandboxConfig asked = withDefaults(requested);
        capacity.checkShape(asked);
        checkArch(hypervisor, asked.arch());
        if (!asked.ociImage().isEmpty() && settings.archs().emulated(asked.arch())) {
            // OCI pulls pick the host's platform; an emulated guest would need the image for its own.
            throw new VmOperationUnsupportedException("spec.oci_image boots only on the host's architecture ("
                    + settings.archs().hostArch() + "), not " + asked.arch());
        }
        BootImage base = images.resolve(asked.imageVersion(), asked.arch());
        SandboxConfig config = DiskSizes.resolve(asked, base);
        checkNetwork(config.network());
        checkIdleAction(config);
        // Pulled and built before admission: a failing image leaves no record, and a long pull holds no slot.
        Optional<OciBoot> ociBoot = config.ociImage().isEmpty() ? Optional.empty()
                : Optional.of(oci.prepare(config.ociImage(), base));
        boolean made = false;
        try {
            SandboxRecord record = create(config, launch, base, ociBoot);
            made = true;
            return record;
        } finally {
            if (made) {
                // The lease kept the image from its resolve until here; the sandbox's record holds it now.
                ociBoot.ifPresent(OciBoot::release);
            } else {
                // A Create that fails (admission, boot, agent) leaves the cache as it found it, as a failed pull does.
                ociBoot.ifPresent(boot -> oci.abandon(boot, () -> registry.ociImageUsers(boot.oci().manifestDigest())));
            }
        }
    }

    private SandboxRecord create(SandboxConfig config, Launch launch, BootImage base, Optional<OciBoot> ociBoot)
            throws InterruptedException {
        BootImage image = ociBoot.map(OciBoot::image).orElse(base);
        SandboxOciImage ociImage = ociBoot.map(SandboxLifecycle::recorded).orElse(null);
        boolean resume = launch.resumeFrom().isPresent();
        // Pooled VMs have no network device, so a sandbox with one boots its own.
        WarmPool.PoolKey poolable = resume || config.network().needsDevice() ? null
                : poolKeyOf(image, config, ociImage == null ? "" : ociImage.manifestDigest());
        long now = clock.millis();
        // A plain create from the pool is a hand-over: the VM was configured for the pool's shape when it booted (its
        // hostname is already this id, env travels with each exec), so its first record is its READY one.
        boolean handOver = launch == Launch.COLD_BOOT;
        Sandbox[] created = new Sandbox[1];
        Optional<PooledVm> pooled = capacity.admit(config, poolable, taken -> {
            String id = taken.map(PooledVm::id).orElseGet(ids);
            SandboxRecord first = new SandboxRecord(id, config, SandboxState.CREATING, "", now, hypervisor.name(),
                    image.arch(), image.version(), taken.isPresent(), null, now, launch.restoredFromPackageId(),
                    SandboxUsage.startingAt(now), false, ociImage);
            created[0] = new Sandbox(first);
            if (taken.isPresent()) {
                // The pooled VM's boot is the pool's cost, not the sandbox's: its CPU so far is the baseline.
                usage.takeOver(created[0], taken.get().vm());
                if (handOver) {
                    created[0].record = first.withVm(taken.get().vm().record()).withState(SandboxState.READY)
                            .withUsage(registry.observeUsage(created[0]));
                }
            }
            return created[0];
        });
        registry.deliverEvents();
        Sandbox sandbox = created[0];
        String id = sandbox.id();
        if (pooled.isPresent() && handOver) {
            return handOver(sandbox, pooled.get(), image);
        }
        PooledVm booted = null;
        try {
            booted = pooled.isPresent() ? pooled.get() : cancellable(sandbox, () -> launcher.boot(id, image,
                    config.vcpuCount(), config.memoryMib(), config.diskSizeMib(), config.network(), launch.resumeFrom()));
            PooledVm vm = booted;
            sandbox.vm = vm.vm();
            registry.update(sandbox, r -> r.withVm(vm.vm().record()));
            // A resumed guest still has its source's settings: its hostname (the source's id) must become its own,
            // or two copies of one snapshot would answer to the same name.
            cancellable(sandbox, () -> {
                launcher.configureAgent(id, config, vm.agent(), !resume);
                return null;
            });
            launch.beforeReady().run(vm.agent());
            registry.update(sandbox, r -> r.withState(SandboxState.READY));
            sandbox.agent.complete(vm.agent());
            supervision.watch(sandbox, vm.vm());
            LOG.infof("sandbox %s ready on %s, image %s%s", id, vm.vm().describe(), image.version(),
                    pooled.isPresent() ? " (from the warm pool)" : resume ? " (resumed from a saved VM state)" : "");
            return sandbox.current();
        } catch (RuntimeException | InterruptedException e) {
            if (undoCreate(sandbox, booted)) {
                throw new SandboxDeletedException("sandbox " + id + " was deleted while it was being created");
            }
            throw e;
        } finally {
            sandbox.created.complete(null);
        }
    }

    /**
     * Makes a pooled VM the sandbox's, whose READY record {@link Capacity#admit} saved: no agent call, no write. A
     * Delete that came in between wins: it finds the VM here once the create is over, and the create says so.
     */
    private SandboxRecord handOver(Sandbox sandbox, PooledVm vm, BootImage image) {
        try {
            sandbox.vm = vm.vm();
            sandbox.agent.complete(vm.agent());
            supervision.watch(sandbox, vm.vm());
        } finally {
            sandbox.created.complete(null);
        }
        if (sandbox.record.state() == SandboxState.STOPPING || sandbox.gone.isDone()) {
            throw new SandboxDeletedException("sandbox " + sandbox.id() + " was deleted while it was being created");
        }
        LOG.infof("sandbox %s ready on %s, image %s (from the warm pool)", sandbox.id(), vm.vm().describe(), image.version());
        return sandbox.current();
    }

    /** A step of a create that a Delete may cut short by interrupting it. */
    private interface CancellableStep<T> {
        T run() throws InterruptedException;
    }

    private static <T> T cancellable(Sandbox sandbox, CancellableStep<T> step) throws InterruptedException {
        synchronized (sandbox) {
            if (sandbox.record.state() == SandboxState.STOPPING) {
                throw new InterruptedException("deleted");
            }
            sandbox.cancellableCreator = Thread.currentThread();
        }
        try {
            return step.run();
        } finally {
            synchronized (sandbox) {
                sandbox.cancellableCreator = null;
                if (sandbox.record.state() == SandboxState.STOPPING) {
                    // The Delete's interrupt was for this step, which is over: it must not hit the thread's next job.
                    Thread.interrupted();
                }
            }
        }
    }

    /**
     * Undoes a create that did not finish: the VM and its files go. The record goes too, unless a Delete came: then
     * the Delete removes it.
     *
     * @return whether a Delete came, which the caller is then told of instead of how its boot broke off
     */
    private boolean undoCreate(Sandbox sandbox, PooledVm booted) {
        launcher.destroy(sandbox.id(), sandbox.vm != null ? sandbox.vm : booted == null ? null : booted.vm(),
                booted == null ? null : booted.agent());
        boolean deleted;
        synchronized (sandbox) {
            deleted = sandbox.record.state() == SandboxState.STOPPING;
        }
        if (deleted) {
            LOG.infof("sandbox %s: deleted while it was being created; its boot was undone", sandbox.id());
            return true;
        }
        registry.remove(sandbox);
        return false;
    }

    private static SandboxOciImage recorded(OciBoot boot) {
        OciImageConfig c = boot.oci().config();
        Map<String, String> env = new LinkedHashMap<>();
        for (String entry : c.env()) {
            int eq = entry.indexOf('=');
            if (eq > 0) {
                env.put(entry.substring(0, eq), entry.substring(eq + 1));
            }
        }
        return new SandboxOciImage(boot.reference(), boot.oci().manifestDigest(), boot.oci().repository(), env,
                c.workingDir(), c.user(), c.defaultCommand(), boot.rootSha256());
    }

    private SandboxConfig withDefaults(SandboxConfig c) {
        return new SandboxConfig(c.imageVersion(), c.vcpuCount() == 0 ? settings.defaultVcpuCount() : c.vcpuCount(),
                c.memoryMib() == 0 ? settings.defaultMemoryMib() : c.memoryMib(), c.diskSizeMib(), c.env(), c.labels(),
                c.ttlMs(), c.idleTimeoutMs(), c.network(), c.idleAction(), settings.archs().resolve(c.arch(), "spec.arch"),
                c.ociImage());
    }

    /** A policy the backend cannot enforce is refused before anything boots. */
    /** Before any image is looked for: a missing emulator is the answer, not a missing image. */
    static void checkArch(Hypervisor hypervisor, String arch) {
        hypervisor.archUnavailableReason(arch).ifPresent(reason -> {
            throw new GuestArchUnavailableException(reason);
        });
    }

    private void checkNetwork(NetworkPolicy network) {
        if (network.needsDevice()) {
            hypervisor.networkUnsupportedReason(network.mode() == NetworkMode.EGRESS)
                    // A backend may carry egress but not forwards (libkrun), so forwards are asked about on their own.
                    .or(() -> network.forwards().isEmpty() ? Optional.empty() : hypervisor.networkUnsupportedReason(false))
                    .ifPresent(reason -> {
                        throw new VmOperationUnsupportedException("network policy (" + network.reachability() + "): "
                                + reason);
                    });
        }
    }

    /**
     * An idle action that pauses needs a backend that can pause (libkrun 1.x cannot); one that suspends also ends the
     * VM process, and with it the host ports it published, which a resume could not promise to get back.
     */
    private void checkIdleAction(SandboxConfig config) {
        IdleAction action = config.idleAction();
        if (!action.resumesOnUse()) {
            return;
        }
        String name = "idle_action " + action.name().toLowerCase();
        hypervisor.pauseUnsupportedReason().ifPresent(reason -> {
            throw new VmOperationUnsupportedException(name + ": " + reason);
        });
        if (action == IdleAction.SNAPSHOT && !config.network().forwards().isEmpty()) {
            throw new VmOperationUnsupportedException(name + " ends the VM process and with it the published host ports"
                    + ", which a resume could not promise to get back; use idle_action pause with port forwards");
        }
    }

    /**
     * Pooled VMs have the template's disk, so a sandbox asking for a bigger one boots its own; a pool of an OCI
     * image's VMs serves only sandboxes of that very digest (a tag that moved since the pool started boots its own).
     */
    static WarmPool.PoolKey poolKeyOf(BootImage image, SandboxConfig config, String ociDigest) {
        return new WarmPool.PoolKey(image.version(), image.arch(), config.vcpuCount(), config.memoryMib(),
                config.diskSizeMib(), ociDigest);
    }

    // ---- pause, resume, delete ---------------------------------------------------------------------------------

    SandboxRecord pause(String id) {
        Sandbox sandbox = registry.find(id);
        sandbox.operations.lock();
        try {
            requireState(sandbox, SandboxState.READY, "pause");
            sandbox.vm.pause();
            return registry.update(sandbox, r -> r.withState(SandboxState.PAUSED));
        } finally {
            sandbox.operations.unlock();
        }
    }

    /**
     * Thaws the VM and steps the guest clock, which stood still while paused; a sandbox its idle action paused or
     * suspended comes back as for a call that needs it.
     */
    SandboxRecord resume(String id) throws InterruptedException {
        Sandbox sandbox = registry.find(id);
        if (IdleActions.needsResume(sandbox)) {
            idle.resume(sandbox, launcher);
            if (sandbox.record.state() == SandboxState.READY) {
                return sandbox.current();
            }
        }
        SandboxRecord resumed;
        sandbox.operations.lock();
        try {
            requireState(sandbox, SandboxState.PAUSED, "resume");
            sandbox.vm.resume();
            resumed = registry.update(sandbox, r -> r.withState(SandboxState.READY));
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

    /** Under the operations lock, which every state-changing operation holds: the state cannot change meanwhile. */
    static void requireState(Sandbox sandbox, SandboxState expected, String action) {
        SandboxState state = sandbox.record.state();
        if (state != expected) {
            throw new SandboxStateException("cannot " + action + " sandbox " + sandbox.id() + ": it is "
                    + SandboxRegistry.describe(state) + ", not " + SandboxRegistry.describe(expected));
        }
    }

    /**
     * Stops the VM and removes everything the sandbox owned; returns once it is gone. A sandbox being created has its
     * boot cut short; a delete already under way is waited for; deleting a failed sandbox only removes its record.
     */
    void delete(String id) throws InterruptedException {
        Sandbox sandbox = registry.find(id);
        boolean first;
        synchronized (sandbox) {
            // A resume from the idle action holds the operations lock for a VMM start: the Delete wins instead.
            sandbox.deleteRequested = true;
            if (sandbox.resumer != null) {
                sandbox.resumer.interrupt();
            }
        }
        try {
            sandbox.operations.lockInterruptibly();
        } catch (InterruptedException e) {
            synchronized (sandbox) {
                sandbox.deleteRequested = false; // this Delete never began: the sandbox may resume again
            }
            throw e;
        }
        try {
            synchronized (sandbox) {
                if (sandbox.gone.isDone()) {
                    return;
                }
                first = sandbox.record.state() != SandboxState.STOPPING;
                if (first) {
                    registry.update(sandbox, r -> r.withState(SandboxState.STOPPING));
                    if (sandbox.cancellableCreator != null) {
                        sandbox.cancellableCreator.interrupt();
                    }
                }
            }
        } finally {
            sandbox.operations.unlock();
        }
        registry.deliverEvents();
        if (!first) {
            await(sandbox.gone);
            return;
        }
        // A create under way undoes its own VM; only then may its record go, or the create could write it again.
        await(sandbox.created);
        sandbox.agent.thenAccept(VmLauncher::closeQuietly);
        VmHandle vm = sandbox.vm;
        if (vm != null) {
            vm.stop(settings.stopGrace());
        }
        launcher.removeRuntime(id);
        registry.remove(sandbox);
        LOG.infof("sandbox %s deleted", id);
        capacity.refillPool();
    }

    private static void await(java.util.concurrent.CompletableFuture<Void> done) throws InterruptedException {
        try {
            done.get();
        } catch (ExecutionException e) {
            throw new IllegalStateException("a sandbox's completion future never fails", e);
        }
    }
}
