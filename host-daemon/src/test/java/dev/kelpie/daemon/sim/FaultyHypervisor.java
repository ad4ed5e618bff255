package dev.kelpie.daemon.sim;

import dev.kelpie.daemon.hypervisor.Hypervisor;
import dev.kelpie.daemon.hypervisor.SavedVmState;
import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.VmHandle;
import dev.kelpie.daemon.hypervisor.VmPlatform;
import dev.kelpie.daemon.hypervisor.VmRecord;
import dev.kelpie.daemon.hypervisor.VmSpec;
import dev.kelpie.daemon.sandboxes.FakeHypervisor;
import dev.kelpie.daemon.sandboxes.FakeHypervisor.FakeVm;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * One daemon's view of the simulated host's VMs: the VMs themselves ({@link FakeHypervisor}) outlive the daemon, the
 * handles it holds do not. A dead daemon's handles go deaf — their {@code exited} never completes — because a killed
 * process notices nothing. Every call passes a fault point (points without armed faults only stop a dead daemon's
 * threads).
 */
final class FaultyHypervisor implements Hypervisor {

    private final SimWorld world;
    private final Faults.Life life;

    FaultyHypervisor(SimWorld world, Faults.Life life) {
        this.world = world;
        this.life = life;
    }

    @Override
    public String name() {
        return world.vms.name();
    }

    @Override
    public VmHandle boot(VmSpec spec) throws InterruptedException {
        world.faults.mayHold("vm.boot");
        if (world.faults.at(life, "vm.boot") == Faults.Kind.FAIL) {
            throw new VmException("simulated: the VMM exited during boot");
        }
        return handle((FakeVm) world.vms.boot(spec));
    }

    @Override
    public VmHandle restore(VmSpec spec, SavedVmState state) throws InterruptedException {
        world.faults.mayHold("vm.restore");
        if (world.faults.at(life, "vm.restore") == Faults.Kind.FAIL) {
            throw new VmException("simulated: the VMM could not load the saved state");
        }
        return handle((FakeVm) world.vms.restore(spec, state));
    }

    private VmHandle handle(FakeVm vm) {
        world.watch(vm);
        return new LifeVm(vm);
    }

    @Override
    public Optional<String> archUnavailableReason(String arch) {
        return Optional.empty();
    }

    @Override
    public VmPlatform platform(String arch) {
        return world.vms.platform(arch);
    }

    @Override
    public Optional<VmHandle> adopt(VmRecord record) {
        return world.vms.adopt(record).map(vm -> new LifeVm((FakeVm) vm));
    }

    @Override
    public void killLeftovers(Path runtimeDir) {
        world.faults.at(life, "vm.sweep");
        world.vms.booted.stream().filter(vm -> vm.record().runtimeDir().equals(runtimeDir))
                .filter(vm -> !world.plantedBugSpares(vm)).forEach(FakeVm::crash);
    }

    private final class LifeVm implements VmHandle {
        private final FakeVm vm;
        private final CompletableFuture<Void> exited = new CompletableFuture<>();

        LifeVm(FakeVm vm) {
            this.vm = vm;
            vm.exited().thenRun(() -> {
                if (!life.dead()) {
                    exited.complete(null);
                }
            });
        }

        @Override
        public VmRecord record() {
            return vm.record();
        }

        @Override
        public boolean isAlive() {
            return vm.isAlive();
        }

        @Override
        public CompletableFuture<Void> exited() {
            return exited;
        }

        @Override
        public void pause() {
            world.faults.mayHoldUninterruptibly("vm.pause");
            if (world.faults.at(life, "vm.pause") == Faults.Kind.VM_DIES) {
                vm.crash();
                throw new VmException("simulated: the VM died while being paused");
            }
            requireAlive();
            vm.pause();
        }

        @Override
        public void resume() {
            world.faults.at(life, "vm.resume");
            requireAlive();
            vm.resume();
        }

        private void requireAlive() {
            if (!vm.isAlive()) {
                throw new VmException("the VM (" + vm.describe() + ") is gone");
            }
        }

        @Override
        public SavedVmState saveState(Path memoryFile, Path diskFile) throws InterruptedException {
            world.faults.mayHold("vm.save");
            Faults.Kind fault = world.faults.at(life, "vm.save");
            if (fault == Faults.Kind.FAIL) {
                throw new VmException("simulated: the VMM could not write its state");
            }
            if (fault == Faults.Kind.VM_DIES) {
                vm.crash();
                throw new VmException("simulated: the VM died while its state was saved");
            }
            requireAlive();
            return vm.saveState(memoryFile, diskFile);
        }

        @Override
        public SavedVmState saveLocalState(Path workDir) throws InterruptedException {
            world.faults.mayHold("vm.save");
            if (world.faults.at(life, "vm.save") == Faults.Kind.FAIL) {
                throw new VmException("simulated: the VMM could not freeze its state");
            }
            requireAlive();
            return vm.saveLocalState(workDir);
        }

        @Override
        public void stop(Duration grace) throws InterruptedException {
            world.faults.mayHold("vm.stop");
            world.faults.at(life, "vm.stop");
            vm.stop(grace);
        }

        @Override
        public void kill() {
            world.faults.at(life, "vm.kill");
            if (world.plantedBugSpares(vm)) {
                return;
            }
            vm.kill();
        }

        @Override
        public String consoleTail(int lines) {
            return vm.consoleTail(lines);
        }

        @Override
        public String describe() {
            return vm.describe();
        }
    }
}
