package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.hypervisor.Hypervisor;
import dev.kelpie.daemon.hypervisor.SavedVmState;
import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.VmPlatform;
import dev.kelpie.daemon.hypervisor.VmHandle;
import dev.kelpie.daemon.hypervisor.VmRecord;
import dev.kelpie.daemon.hypervisor.VmSpec;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A hypervisor whose VMs are objects: each "boots" at once, keeps its runtime directory like a real one, and can be
 * crashed by the test. Its agent socket names an in-process agent for {@link InProcessAgents}.
 */
public final class FakeHypervisor implements Hypervisor {

    public final List<FakeVm> booted = new CopyOnWriteArrayList<>();
    /** VMs started by {@link #restore}, with the state they resumed. */
    public final List<SavedVmState> restoredFrom = new CopyOnWriteArrayList<>();
    final Map<Long, FakeVm> byPid = new ConcurrentHashMap<>();
    final List<Path> leftoversKilled = new CopyOnWriteArrayList<>();
    private final AtomicLong pids = new AtomicLong(1000);
    volatile String failNextBoot;
    /** Whether VMs may have a network device; the default of every backend is no. */
    public volatile boolean networking;
    /** When set, boots wait here (as a real VMM start takes time) until it opens or the booting thread is interrupted. */
    public volatile java.util.concurrent.CountDownLatch bootGate;
    /** Completes with the thread of the first boot that waits at the gate. */
    public final java.util.concurrent.CompletableFuture<Thread> bootWaiting = new java.util.concurrent.CompletableFuture<>();
    /** What each boot was asked for. */
    public final List<VmSpec> specs = new CopyOnWriteArrayList<>();

    @Override
    public String name() {
        return "fake";
    }

    /** Why VMs cannot be paused (as on libkrun); null: they can. */
    public volatile String pauseUnsupported;

    @Override
    public Optional<String> pauseUnsupportedReason() {
        return Optional.ofNullable(pauseUnsupported);
    }

    /** Architectures this fake refuses to run, with the reason it gives. */
    public final java.util.Map<String, String> archRefusals = new java.util.concurrent.ConcurrentHashMap<>();

    @Override
    public Optional<String> archUnavailableReason(String arch) {
        return Optional.ofNullable(archRefusals.get(arch));
    }

    @Override
    public Optional<String> networkUnsupportedReason(boolean egress) {
        return networking ? Optional.empty() : Optional.of("the fake backend has no guest networking");
    }

    @Override
    public VmHandle boot(VmSpec spec) throws InterruptedException {
        java.util.concurrent.CountDownLatch gate = bootGate;
        if (gate != null) {
            bootWaiting.complete(Thread.currentThread());
            gate.await();
        }
        specs.add(spec);
        String failure = failNextBoot;
        if (failure != null) {
            failNextBoot = null;
            throw new VmException(failure);
        }
        try {
            Files.createDirectories(spec.runtimeDir());
            Files.writeString(spec.runtimeDir().resolve("console.log"), "booted " + spec.vmId() + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        long pid = pids.incrementAndGet();
        VmRecord record = new VmRecord("fake", spec.vmId(), pid, pid * 10, "none", spec.runtimeDir(),
                Path.of(spec.vmId()), spec.runtimeDir().resolve("qmp.sock"), spec.runtimeDir().resolve("console.log"),
                spec.network().forwards(), "");
        FakeVm vm = new FakeVm(record);
        booted.add(vm);
        byPid.put(pid, vm);
        return vm;
    }

    @Override
    public VmHandle restore(VmSpec spec, SavedVmState state) throws InterruptedException {
        restoredFrom.add(state);
        VmHandle vm = boot(spec);
        if (state.sharedRam().isPresent()) {
            // As the qemu backend does: the clone's own link to the frozen RAM, which outlives the snapshot's name.
            try {
                Files.createLink(spec.runtimeDir().resolve(RAM_LINK), state.sharedRam().get());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return vm;
    }

    /** A clone's link to the frozen RAM it maps, in its runtime directory. */
    public static final String RAM_LINK = "vm.ram";

    @Override
    public VmPlatform platform(String arch) {
        return new VmPlatform("fake", "1.0", "fake-machine", "fake-cpu", arch);
    }

    @Override
    public Optional<VmHandle> adopt(VmRecord record) {
        FakeVm vm = byPid.get(record.pid());
        return vm != null && vm.isAlive() && vm.record().processStartMillis() == record.processStartMillis()
                ? Optional.of(vm) : Optional.empty();
    }

    @Override
    public void killLeftovers(Path runtimeDir) {
        leftoversKilled.add(runtimeDir);
        // As the real backends do: a VMM process that names this runtime directory is killed.
        booted.stream().filter(vm -> vm.record().runtimeDir().equals(runtimeDir)).forEach(FakeVm::crash);
    }

    /** The VM that serves {@code vmId}'s agent socket, alive or not. */
    public Optional<FakeVm> byId(String vmId) {
        return booted.stream().filter(vm -> vm.record().vmId().equals(vmId)).reduce((first, second) -> second);
    }

    public static final class FakeVm implements VmHandle {
        private final VmRecord record;
        private final CompletableFuture<Void> exited = new CompletableFuture<>();
        volatile boolean paused;
        /** Thrown by the next stop, once. */
        public volatile RuntimeException failStop;
        /** When set, a stop waits here (a guest taking its time to shut down) until it opens. */
        public volatile java.util.concurrent.CountDownLatch stopGate;
        /** Completes once a stop waits at the gate. */
        public final CompletableFuture<Void> stopWaiting = new CompletableFuture<>();

        FakeVm(VmRecord record) {
            this.record = record;
        }

        public void crash() {
            exited.complete(null);
        }

        @Override
        public VmRecord record() {
            return record;
        }

        @Override
        public boolean isAlive() {
            return !exited.isDone();
        }

        @Override
        public CompletableFuture<Void> exited() {
            return exited;
        }

        @Override
        public void pause() {
            paused = true;
        }

        @Override
        public void resume() {
            paused = false;
        }

        @Override
        public SavedVmState saveState(Path memoryFile, Path diskFile) {
            try {
                Files.writeString(memoryFile, "memory of " + record.vmId());
                Files.writeString(diskFile, "disk of " + record.vmId());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return new SavedVmState(memoryFile, diskFile, new VmPlatform("fake", "1.0", "fake-machine", "fake-cpu", "x86_64"));
        }

        /** A local snapshot as files in {@code workDir}; its "RAM" is a file there too. */
        @Override
        public SavedVmState saveLocalState(Path workDir) {
            SavedVmState full = saveState(workDir.resolve("state"), workDir.resolve("rw.ext4"));
            Path ram = workDir.resolve("frozen.ram");
            try {
                Files.writeString(ram, "ram of " + record.vmId());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return new SavedVmState(full.memoryFile(), full.diskFile(), full.platform(), java.util.Optional.of(ram));
        }

        @Override
        public void stop(Duration grace) throws InterruptedException {
            java.util.concurrent.CountDownLatch gate = stopGate;
            if (gate != null) {
                stopWaiting.complete(null);
                gate.await();
            }
            RuntimeException failure = failStop;
            if (failure != null) {
                failStop = null;
                throw failure;
            }
            exited.complete(null);
        }

        @Override
        public void kill() {
            exited.complete(null);
        }

        @Override
        public String consoleTail(int lines) {
            return "last words of " + record.vmId();
        }

        @Override
        public String describe() {
            return "fake pid " + record.pid();
        }
    }
}
