package dev.kelpie.daemon.hypervisor;

import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * The hypervisor the sandbox manager sees: new VMs go to the selected backend, while a VM the daemon finds again
 * goes back to the backend that started it (its record names it), so switching backends never orphans a running VM.
 */
public final class BackendSwitch implements Hypervisor {

    private final Map<String, Hypervisor> backends;
    private final Supplier<Optional<String>> selected;

    /**
     * @param backends every backend by {@link Hypervisor#name()}
     * @param selected the backend new VMs use, asked at each use since the startup probe may still run; empty when
     *     none works here
     */
    public BackendSwitch(Map<String, Hypervisor> backends, Supplier<Optional<String>> selected) {
        this.backends = Map.copyOf(backends);
        this.selected = selected;
    }

    /** The selected backend's name, or {@code none}. */
    @Override
    public String name() {
        return selected.get().orElse("none");
    }

    @Override
    public VmHandle boot(VmSpec spec) throws InterruptedException {
        return current().boot(spec);
    }

    @Override
    public Optional<String> networkUnsupportedReason(boolean egress) {
        return current().networkUnsupportedReason(egress);
    }

    @Override
    public Optional<String> pauseUnsupportedReason() {
        return current().pauseUnsupportedReason();
    }

    @Override
    public Optional<String> archUnavailableReason(String arch) {
        return current().archUnavailableReason(arch);
    }

    /** A saved state is restored by the selected backend, whose {@link #platform} a package was checked against. */
    @Override
    public VmHandle restore(VmSpec spec, SavedVmState state) throws InterruptedException {
        return current().restore(spec, state);
    }

    @Override
    public VmPlatform platform(String arch) {
        return current().platform(arch);
    }

    @Override
    public Optional<VmHandle> adopt(VmRecord record) {
        return Optional.ofNullable(backends.get(record.hypervisor())).flatMap(b -> b.adopt(record));
    }

    @Override
    public void killLeftovers(Path runtimeDir) {
        backends.values().forEach(b -> b.killLeftovers(runtimeDir));
    }

    @Override
    public void releaseMemory(String vmId) {
        backends.values().forEach(b -> b.releaseMemory(vmId));
    }

    @Override
    public void removeOrphanMemory(java.util.Set<String> vmIds) {
        backends.values().forEach(b -> b.removeOrphanMemory(vmIds));
    }

    @Override
    public Optional<SavedVmState> frozenMemory(String memoryKey, Path disk, VmPlatform platform) {
        return current().frozenMemory(memoryKey, disk, platform);
    }

    @Override
    public void forgetMemory(String memoryKey) {
        backends.values().forEach(b -> b.forgetMemory(memoryKey));
    }

    private Hypervisor current() {
        String name = selected.get().orElseThrow(() -> new VmException("no hypervisor backend works on this host (see kelpie info)"));
        Hypervisor backend = backends.get(name);
        if (backend == null) {
            throw new VmException("backend " + name + " is not available in this daemon");
        }
        return backend;
    }
}
