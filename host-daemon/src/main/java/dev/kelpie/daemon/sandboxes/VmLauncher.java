package dev.kelpie.daemon.sandboxes;

import dev.kelpie.agent.v1.AgentGrpc;
import dev.kelpie.agent.v1.ConfigureRequest;
import dev.kelpie.daemon.agent.AgentConnector;
import dev.kelpie.daemon.agent.AgentDialer;
import dev.kelpie.daemon.agent.AgentUnavailableException;
import dev.kelpie.daemon.hypervisor.Hypervisor;
import dev.kelpie.daemon.hypervisor.SavedVmState;
import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.VmHandle;
import dev.kelpie.daemon.hypervisor.VmSpec;
import dev.kelpie.daemon.images.BootImage;
import dev.kelpie.daemon.network.NetworkPolicy;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.jboss.logging.Logger;

/**
 * Brings VMs up and takes them down: boots (or resumes) a VM within the host's boot slots and proves its agent, hands
 * the agent its sandbox's settings, and destroys a VM that serves no sandbox with everything in its runtime directory.
 */
final class VmLauncher {

    private static final Logger LOG = Logger.getLogger(VmLauncher.class);
    static final int CONSOLE_TAIL_LINES = 20;
    private static final long AGENT_CALL_TIMEOUT_MS = 10_000;
    private static final long KILLED_VM_EXIT_WAIT_MS = 10_000;

    private final Hypervisor hypervisor;
    private final AgentConnector agents;
    private final SandboxStore store;
    private final SandboxNetworks networks;
    private final SandboxSettings settings;
    private final Semaphore bootSlots;

    VmLauncher(Hypervisor hypervisor, AgentConnector agents, SandboxStore store, SandboxNetworks networks,
            SandboxSettings settings) {
        this.hypervisor = hypervisor;
        this.agents = agents;
        this.store = store;
        this.networks = networks;
        this.settings = settings;
        this.bootSlots = new Semaphore(settings.maxConcurrentBoots(), true);
    }

    /**
     * Boots a VM and proves its agent, within a boot slot. On failure nothing of it remains. An interrupt (a Delete of
     * the sandbox being created) ends the wait for the VMM or the agent.
     *
     * @throws SandboxUnavailableException with the console's tail when the VM or its agent did not come up
     */
    PooledVm boot(String id, BootImage image, int vcpuCount, int memoryMib, long diskSizeMib, NetworkPolicy network,
            Optional<SavedVmState> resumeFrom) throws InterruptedException {
        VmHandle vm = null;
        bootSlots.acquire();
        try {
            VmSpec spec = new VmSpec(id, store.runtimeDir(id), image, vcpuCount, memoryMib, diskSizeMib,
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

    /**
     * Boots a VM for the warm pool, configured as the sandbox it will become: its hostname is its id, which the
     * sandbox takes; its limits are those of the pool's shape. Env is not set here: it travels with each exec.
     */
    PooledVm bootForPool(String id, BootImage image, WarmPool.PoolKey key) throws InterruptedException {
        PooledVm vm = boot(id, image, key.vcpuCount(), key.memoryMib(), key.diskSizeMib(), NetworkPolicy.NONE,
                Optional.empty());
        try {
            configureAgent(id, new SandboxConfig(key.imageVersion(), key.vcpuCount(), key.memoryMib(), key.diskSizeMib(),
                    Map.of(), Map.of(), 0, 0, NetworkPolicy.NONE, IdleAction.NONE, key.arch()), vm.agent());
        } catch (RuntimeException e) {
            vm.discard().run();
            throw e;
        }
        return vm;
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

    /** Dials the agent of a re-adopted VM. */
    ManagedChannel redial(VmHandle vm) throws InterruptedException {
        return agents.dial(vm.record().agentSocket(), settings.agentReadyTimeout());
    }

    /** Hands a sandbox's settings to its agent: env and limits never travel on the kernel command line. */
    void configureAgent(String id, SandboxConfig config, ManagedChannel channel) {
        configureAgent(id, config, channel, true);
    }

    /**
     * @param network whether to set the guest's network up too; a resumed guest has it set up already (the same
     *     device, the same addresses), and setting an address twice fails
     */
    void configureAgent(String id, SandboxConfig config, ManagedChannel channel, boolean network) {
        int userMemoryMib = Math.max(32, config.memoryMib() - settings.guestReservedMib());
        ConfigureRequest.Builder request = ConfigureRequest.newBuilder().setHostname(id)
                .putAllEnv(SandboxNetworks.guestEnv(config)).setUserMemoryLimitMib(userMemoryMib)
                .setUserPidsLimit(settings.userPidsLimit());
        if (network) {
            SandboxNetworks.guestConfig(config.network()).ifPresent(request::setNetwork);
        }
        try {
            AgentGrpc.newBlockingStub(channel).withDeadlineAfter(AGENT_CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS)
                    .configure(request.build());
        } catch (StatusRuntimeException e) {
            throw new SandboxUnavailableException("sandbox " + id + ": the agent refused its configuration: "
                    + e.getStatus(), e);
        }
    }

    /** Kills a VM that serves no sandbox and removes its files. */
    void destroy(String id, VmHandle vm, ManagedChannel channel) {
        if (channel != null) {
            closeQuietly(channel);
        }
        if (vm != null) {
            vm.kill();
            try {
                vm.exited().get(KILLED_VM_EXIT_WAIT_MS, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException | TimeoutException e) {
                LOG.errorf("VM %s (%s) did not end after SIGKILL", id, vm.describe());
            }
        }
        removeRuntime(id);
    }

    /** Ends any VMM process left in a VM's runtime directory, then removes the directory: sockets, disk, logs. */
    void removeRuntime(String id) {
        networks.detach(id);
        hypervisor.killLeftovers(store.runtimeDir(id));
        store.deleteRuntimeDir(id);
    }

    static void closeQuietly(ManagedChannel channel) {
        try {
            AgentDialer.close(channel);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            LOG.debugf("closing an agent channel: %s", e.getMessage());
        }
    }
}
