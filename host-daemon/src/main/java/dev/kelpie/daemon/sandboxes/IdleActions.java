package dev.kelpie.daemon.sandboxes;

import dev.kelpie.agent.v1.AgentGrpc;
import dev.kelpie.agent.v1.ListProcessesRequest;
import dev.kelpie.agent.v1.ProcessState;
import dev.kelpie.daemon.agent.GuestRefresh;
import dev.kelpie.daemon.hypervisor.VmHandle;
import dev.kelpie.daemon.images.BootImage;
import dev.kelpie.daemon.images.ImageSource;
import dev.kelpie.daemon.images.oci.OciBoot;
import dev.kelpie.daemon.images.oci.OciBootSource;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.time.Clock;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Pauses or suspends an idle sandbox (its idle action), and brings it back for the next call that needs its guest
 * (ADR 0029). Both hold the sandbox's operations lock, so a resume waits for a suspend under way, two callers resume
 * a sandbox once, and a Delete waits for either; a Delete that comes during a resume interrupts it and wins.
 */
final class IdleActions {

    private static final Logger LOG = Logger.getLogger(IdleActions.class);
    /** The agent answers ListProcesses from memory; a guest slower than this is busy, which is not idle either. */
    private static final long LIST_PROCESSES_TIMEOUT_MS = 5_000;

    private final SandboxRegistry registry;
    private final VmSuspension suspension;
    private final ImageSource images;
    private final VmSupervision supervision;
    private final SandboxNetworks networks;
    private final Clock clock;
    private final OciBootSource oci;

    IdleActions(SandboxRegistry registry, VmSuspension suspension, ImageSource images, VmSupervision supervision,
            SandboxNetworks networks, Clock clock, OciBootSource oci) {
        this.registry = registry;
        this.suspension = suspension;
        this.images = images;
        this.oci = oci;
        this.supervision = supervision;
        this.networks = networks;
        this.clock = clock;
    }

    /** READY, with no call in flight, and no call or stream for its idle timeout (processes are not asked here). */
    static boolean looksIdle(Sandbox sandbox, long nowMs) {
        SandboxRecord r = sandbox.record;
        long timeoutMs = r.config().idleTimeoutMs();
        return r.state() == SandboxState.READY && timeoutMs > 0 && sandbox.calls.get() == 0
                && nowMs - sandbox.lastActivityMs >= timeoutMs && nowMs - r.lastActivityMs() >= timeoutMs;
    }

    /**
     * Whether the guest runs a process started by a detached exec: work nobody watches, which keeps the sandbox from
     * its idle action. A guest whose agent does not answer is taken as busy; an agent without ListProcesses has none.
     */
    boolean runsDetachedWork(Sandbox sandbox) {
        CompletableFuture<ManagedChannel> agent = sandbox.agent;
        ManagedChannel channel = agent.isDone() && !agent.isCompletedExceptionally() ? agent.getNow(null) : null;
        if (channel == null) {
            return true;
        }
        try {
            return AgentGrpc.newBlockingStub(channel).withDeadlineAfter(LIST_PROCESSES_TIMEOUT_MS, TimeUnit.MILLISECONDS)
                    .listProcesses(ListProcessesRequest.getDefaultInstance()).getProcessesList().stream()
                    .anyMatch(p -> p.getDetached() && p.getState() == ProcessState.PROCESS_STATE_RUNNING);
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == io.grpc.Status.Code.UNIMPLEMENTED) {
                return false;
            }
            LOG.debugf("sandbox %s: listing its processes failed (%s); taken as busy", sandbox.id(), e.getStatus());
            return true;
        }
    }

    /**
     * Pauses or suspends the sandbox if it is still idle once nothing else operates on it; a call that arrives
     * meanwhile either is seen here (and the sandbox stays READY) or waits for this and resumes it.
     *
     * @return whether the sandbox was paused or suspended
     */
    boolean apply(Sandbox sandbox, IdleAction action) throws InterruptedException {
        sandbox.operations.lockInterruptibly();
        try {
            sandbox.idling = true;
            // After idling is set: a call that counted itself or touched before now is seen here (ADR 0029).
            if (!looksIdle(sandbox, clock.millis()) || sandbox.vm == null) {
                return false;
            }
            if (action == IdleAction.PAUSE) {
                sandbox.vm.pause();
                registry.update(sandbox, r -> r.idledInto(SandboxState.PAUSED));
            } else {
                suspend(sandbox);
            }
            LOG.infof("sandbox %s: idle for %d ms; %s", sandbox.id(), sandbox.record.config().idleTimeoutMs(),
                    action == IdleAction.PAUSE ? "paused" : "suspended to local files, its VM process ended");
            return true;
        } finally {
            sandbox.idling = false;
            sandbox.operations.unlock();
        }
    }

    /** Under the operations lock. A failing save leaves the sandbox READY and running. */
    private void suspend(Sandbox sandbox) throws InterruptedException {
        VmHandle vm = sandbox.vm;
        // The vCPUs stop first and never run again: the state written is the state the guest ends in.
        vm.pause();
        try {
            suspension.suspend(sandbox.id(), vm);
        } catch (RuntimeException | InterruptedException e) {
            vm.resume();
            throw e;
        }
        CompletableFuture<ManagedChannel> agent = sandbox.agent;
        synchronized (sandbox) {
            // Before the VM ends: supervision then sees a VM that no longer serves the sandbox, not a failure.
            sandbox.vm = null;
            sandbox.agent = new CompletableFuture<>();
            registry.update(sandbox, r -> r.idledInto(SandboxState.SUSPENDED));
        }
        registry.deliverEvents();
        agent.thenAccept(VmLauncher::closeQuietly);
        vm.kill();
        networks.detach(sandbox.id());
    }

    /** Whether the next call must resume the sandbox first: its idle action is under way or it idled. */
    static boolean needsResume(Sandbox sandbox) {
        SandboxRecord r = sandbox.record;
        return sandbox.idling
                || (r.idled() && (r.state() == SandboxState.PAUSED || r.state() == SandboxState.SUSPENDED));
    }

    /**
     * Makes an idled sandbox READY again; returns at once for any other. Waits for an idle action under way. The guest
     * clock, which stood still, is stepped; a suspended sandbox's guest is the same guest (its state is resumed once,
     * then discarded), so it gets no new generation or entropy, unlike a clone.
     *
     * @throws SandboxDeletedException when a Delete came first or during the resume
     * @throws SandboxUnavailableException when the VM did not come back; the sandbox is then FAILED with the reason
     */
    void resume(Sandbox sandbox, VmLauncher launcher) throws InterruptedException {
        sandbox.operations.lockInterruptibly();
        try {
            SandboxRecord r = sandbox.record;
            if (!r.idled() || (r.state() != SandboxState.PAUSED && r.state() != SandboxState.SUSPENDED)) {
                return;
            }
            synchronized (sandbox) {
                if (sandbox.deleteRequested || sandbox.gone.isDone()) {
                    throw deleted(sandbox);
                }
                sandbox.resumer = Thread.currentThread();
            }
            try {
                if (r.state() == SandboxState.PAUSED) {
                    sandbox.vm.resume();
                    registry.update(sandbox, x -> x.withState(SandboxState.READY));
                } else {
                    resumeSuspended(sandbox, r, launcher);
                }
            } finally {
                synchronized (sandbox) {
                    sandbox.resumer = null;
                    if (sandbox.deleteRequested) {
                        Thread.interrupted(); // the Delete's interrupt was for this resume, which is over
                    }
                }
            }
        } finally {
            sandbox.operations.unlock();
        }
        syncClock(sandbox);
    }

    private void resumeSuspended(Sandbox sandbox, SandboxRecord r, VmLauncher launcher) throws InterruptedException {
        long startNanos = System.nanoTime();
        PooledVm vm;
        try {
            VmSuspension.LocalState state = suspension.find(sandbox.id()).orElseThrow(() -> new SandboxUnavailableException(
                    "sandbox " + sandbox.id() + ": its suspended state is missing"));
            vm = resumeOnItsImage(sandbox.id(), r, state);
        } catch (InterruptedException e) {
            if (deleteCame(sandbox)) {
                throw deleted(sandbox);
            }
            throw e;
        } catch (RuntimeException e) {
            if (deleteCame(sandbox)) {
                throw deleted(sandbox);
            }
            String reason = "resuming it from its suspended state failed: " + e.getMessage();
            launcher.removeRuntime(sandbox.id());
            registry.update(sandbox, x -> x.failed(reason));
            LOG.errorf("sandbox %s failed: %s", sandbox.id(), reason);
            throw new SandboxUnavailableException("sandbox " + sandbox.id() + ": " + reason, e);
        }
        try {
            synchronized (sandbox) {
                registry.update(sandbox, x -> x.withVm(vm.vm().record()).withState(SandboxState.READY));
                sandbox.vm = vm.vm();
                sandbox.agent.complete(vm.agent());
            }
        } catch (SandboxStateException e) {
            vm.discard().run();
            throw e;
        }
        registry.deliverEvents();
        supervision.watch(sandbox, vm.vm());
        suspension.discard(sandbox.id());
        LOG.infof("sandbox %s resumed from its suspended state in %d ms on %s", sandbox.id(),
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos), vm.vm().describe());
    }

    /**
     * Resumes on what the sandbox booted: its base image, or for a sandbox from an OCI image that image's root by its
     * manifest digest (in the cache still: the sandbox's record keeps it from removal), checked against the root's
     * sha256 the record holds, since the saved memory caches the root's blocks.
     */
    private PooledVm resumeOnItsImage(String id, SandboxRecord r, VmSuspension.LocalState state)
            throws InterruptedException {
        BootImage base = images.resolve(r.imageVersion(), r.arch());
        if (r.oci() == null) {
            return suspension.resume(id, r, base, state);
        }
        OciBoot boot = oci.prepare(r.oci().manifestDigest(), base);
        try {
            String booted = r.oci().rootSha256();
            if (!booted.isEmpty() && !booted.equals(boot.rootSha256())) {
                throw new IllegalStateException("the root of " + r.oci().repository() + "@" + r.oci().manifestDigest()
                        + " is sha256 " + boot.rootSha256() + " now, not the " + booted + " the sandbox booted");
            }
            return suspension.resume(id, r, boot.image(), state);
        } finally {
            boot.release(); // the sandbox's record holds the image from here on, as it did while suspended
        }
    }

    private static boolean deleteCame(Sandbox sandbox) {
        synchronized (sandbox) {
            return sandbox.deleteRequested;
        }
    }

    private static SandboxDeletedException deleted(Sandbox sandbox) {
        return new SandboxDeletedException("sandbox " + sandbox.id() + " was deleted while it was being resumed");
    }

    private void syncClock(Sandbox sandbox) {
        sandbox.agent.thenAccept(channel -> {
            try {
                GuestRefresh.syncClock(channel, clock.millis());
            } catch (StatusRuntimeException e) {
                LOG.warnf("sandbox %s: clock sync after resume failed: %s", sandbox.id(), e.getStatus());
            }
        });
    }
}
