package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.hypervisor.Hypervisor;
import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.VmHandle;
import dev.kelpie.daemon.network.NetworkMode;
import java.util.Optional;
import java.util.concurrent.Executor;
import org.jboss.logging.Logger;

/**
 * Finds the sandboxes of an earlier daemon: VMs that still run (same process, by its boot-relative start) are adopted
 * and their agent sessions dialled in the background; the rest are marked FAILED; deletes that were under way are
 * finished; VM directories without a record lose their processes and files.
 */
final class SandboxRecovery {

    private static final Logger LOG = Logger.getLogger(SandboxRecovery.class);

    private final Hypervisor hypervisor;
    private final SandboxRegistry registry;
    private final VmLauncher launcher;
    private final VmSupervision supervision;
    private final SandboxNetworks networks;
    private final VmSuspension suspension;
    private final Executor background;

    SandboxRecovery(Hypervisor hypervisor, SandboxRegistry registry, VmLauncher launcher, VmSupervision supervision,
            SandboxNetworks networks, VmSuspension suspension, Executor background) {
        this.suspension = suspension;
        this.hypervisor = hypervisor;
        this.registry = registry;
        this.launcher = launcher;
        this.supervision = supervision;
        this.networks = networks;
        this.background = background;
    }

    /** Call once, before serving. */
    void recover() {
        SandboxStore store = registry.store();
        for (SandboxRecord record : store.loadAll()) {
            if (record.state() == SandboxState.STOPPING) {
                finishDelete(record);
                continue;
            }
            Sandbox sandbox = Sandbox.recovered(record);
            registry.adopt(sandbox);
            if (record.state() == SandboxState.SUSPENDED) {
                recoverSuspended(sandbox, record);
                continue;
            }
            if (!record.state().holdsVm()) {
                continue;
            }
            // A suspend that did not reach its record, or a resume that did: the VM serves, the state is stale.
            suspension.discard(record.id());
            Optional<VmHandle> vm = record.vm() == null || record.state() == SandboxState.CREATING
                    ? Optional.empty() : hypervisor.adopt(record.vm());
            if (vm.isEmpty()) {
                abandon(sandbox, record);
                continue;
            }
            sandbox.vm = vm.get();
            if (record.config().network().mode() == NetworkMode.EGRESS) {
                networks.reopenEgress(record.id(), record.config().network());
            }
            if (record.state() == SandboxState.READY) {
                thaw(sandbox, vm.get());
            }
            supervision.watch(sandbox, vm.get());
            background.execute(() -> redial(sandbox, vm.get()));
            LOG.infof("sandbox %s re-adopted: %s", record.id(), vm.get().describe());
        }
        for (String dirId : store.runtimeDirIds()) {
            if (registry.lookup(dirId).map(s -> !s.record.state().reservesRoom()).orElse(true)) {
                launcher.removeRuntime(dirId);
            }
        }
        // RAM files of VMs whose runtime directories are gone, and snapshots a fork left when the daemon died.
        hypervisor.removeOrphanMemory(java.util.Set.copyOf(store.runtimeDirIds()));
    }

    /**
     * A SUSPENDED sandbox stays so, to be resumed by its next call: a VMM that a suspend had not ended yet, or that a
     * resume had started, is killed (the record says the state on disk is what counts). Without a complete state it
     * fails.
     */
    private void recoverSuspended(Sandbox sandbox, SandboxRecord record) {
        hypervisor.killLeftovers(registry.store().runtimeDir(record.id()));
        if (suspension.find(record.id()).isEmpty()) {
            abandon(sandbox, record);
            return;
        }
        LOG.infof("sandbox %s: suspended; it resumes on its next call", record.id());
    }

    /** A sandbox whose VM is gone: FAILED with the reason, which Get shows until it is deleted. */
    private void abandon(Sandbox sandbox, SandboxRecord record) {
        launcher.removeRuntime(record.id());
        String reason = switch (record.state()) {
            case CREATING -> "the daemon stopped while the sandbox was being created";
            case SUSPENDED -> "its suspended state is missing or incomplete";
            default -> "its VM ended while the daemon was down";
        };
        registry.update(sandbox, r -> r.failed(reason));
        LOG.warnf("sandbox %s: %s", record.id(), reason);
    }

    /**
     * A sandbox whose delete a dying daemon did not finish: it was asked to go, so it goes now — VM, files, record —
     * rather than stay STOPPING, which a new Delete would take as already under way.
     */
    private void finishDelete(SandboxRecord record) {
        Optional<VmHandle> vm = record.vm() == null ? Optional.empty() : hypervisor.adopt(record.vm());
        vm.ifPresent(VmHandle::kill);
        launcher.removeRuntime(record.id());
        registry.store().delete(record.id());
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
            sandbox.agent.complete(launcher.redial(vm));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            sandbox.agent.completeExceptionally(e);
        } catch (RuntimeException e) {
            String reason = "the agent of its re-adopted VM did not answer: " + e.getMessage();
            sandbox.agent.completeExceptionally(new SandboxUnavailableException("sandbox " + sandbox.id() + ": " + reason, e));
            supervision.failUnreachable(sandbox, vm, reason);
        }
    }
}
