package dev.kelpie.daemon.sim;

import dev.kelpie.agent.v1.AgentGrpc;
import dev.kelpie.agent.v1.HealthRequest;
import dev.kelpie.daemon.images.cache.BlobHashing;
import dev.kelpie.daemon.images.cache.CachedImage;
import dev.kelpie.daemon.sandboxes.FakeHypervisor.FakeVm;
import dev.kelpie.daemon.sandboxes.SandboxRecord;
import dev.kelpie.daemon.sandboxes.SandboxState;
import dev.kelpie.teleport.pkg.PackageManifest;
import dev.kelpie.teleport.pkg.PackageReader;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * What must hold between any two steps of a simulation, whatever faults struck: checked against the daemon's own
 * answers and against the world it runs in (live VMs, files on disk, client streams).
 */
final class Invariants {

    private static final Duration STREAM_END_DEADLINE = Duration.ofSeconds(10);
    private static final long HEALTH_DEADLINE_MS = 5_000;

    private final SimWorld world;
    /**
     * Cache blobs already hashed, with the modification time they had: blobs are immutable, so a blob is hashed again
     * only when its file changes (hashing every blob after every step would be most of a run's time).
     */
    private final Map<Path, FileTime> hashedBlobs = new HashMap<>();
    private SimDaemon daemon;

    Invariants(SimWorld world) {
        this.world = world;
    }

    /** @throws AssertionError naming the first invariant that does not hold */
    void check(SimDaemon current, List<ClientExec> execs) throws IOException, InterruptedException {
        daemon = current;
        List<SandboxRecord> sandboxes = daemon.manager.list(Map.of());
        noSandboxBetweenStates(sandboxes);
        onlyDocumentedTransitions();
        deletedSandboxesStayDeleted(sandboxes);
        thePoolCountsAgainstTheLimits(sandboxes);
        noOrphanVm(sandboxes);
        suspendedMeansStateOnDiskAndNoVm(sandboxes);
        readyMeansALiveAgent(sandboxes);
        everyExecEndsOnce(execs);
        onlyWholePackages();
        onlyVerifiedImages();
        noScratchLeft();
    }

    private void noSandboxBetweenStates(List<SandboxRecord> sandboxes) {
        for (SandboxRecord r : sandboxes) {
            require(r.state() != SandboxState.CREATING && r.state() != SandboxState.STOPPING,
                    "sandbox " + r.id() + " is stuck " + r.state() + " with no operation running");
        }
    }

    private void onlyDocumentedTransitions() {
        List<String> forbidden = world.transitions.forbidden();
        require(forbidden.isEmpty(), "state changes the lifecycle forbids: " + forbidden);
    }

    /** A sandbox whose Delete answered OK is gone for good: not listed, no record on disk, not after a restart. */
    private void deletedSandboxesStayDeleted(List<SandboxRecord> sandboxes) {
        for (SandboxRecord r : sandboxes) {
            require(!world.deleted.contains(r.id()), "sandbox " + r.id() + " was deleted but is listed again, "
                    + r.state());
        }
        for (String id : world.deleted) {
            require(!Files.exists(world.stateDir.resolve("sandboxes").resolve(id + ".json")),
                    "sandbox " + id + " was deleted but its record is on disk again");
        }
    }

    /** Sandboxes and warm-pool VMs together stay within the host's sandbox count and memory budget. */
    private void thePoolCountsAgainstTheLimits(List<SandboxRecord> sandboxes) {
        // A SUSPENDED sandbox holds no VM but keeps its room, so its resume is never refused (ADR 0029).
        List<SandboxRecord> holding = sandboxes.stream().filter(r -> r.state().reservesRoom()).toList();
        int pooled = daemon.manager.warmPoolStatus().map(p -> p.ready() + p.booting()).orElse(0);
        long pooledMemoryMib = daemon.manager.warmPoolStatus().map(p -> (long) pooled * p.memoryMib()).orElse(0L);
        long memoryMib = holding.stream().mapToLong(r -> r.config().memoryMib()).sum() + pooledMemoryMib;
        require(holding.size() + pooled <= SimDaemon.LIMITS.maxSandboxes(), holding.size() + " sandboxes and "
                + pooled + " pooled VMs exceed the limit of " + SimDaemon.LIMITS.maxSandboxes());
        require(memoryMib <= SimDaemon.LIMITS.memoryBudgetMib(), "sandboxes and pooled VMs hold " + memoryMib
                + " MiB, over the budget of " + SimDaemon.LIMITS.memoryBudgetMib());
    }

    /** Every live VM serves a sandbox or waits in the warm pool; every runtime directory belongs to a live VM. */
    private void noOrphanVm(List<SandboxRecord> sandboxes) {
        Set<Long> servingPids = sandboxes.stream().filter(r -> r.state().holdsVm() && r.vm() != null)
                .map(r -> r.vm().pid()).collect(Collectors.toSet());
        List<FakeVm> alive = world.vms.booted.stream().filter(FakeVm::isAlive).toList();
        for (SandboxRecord r : sandboxes) {
            if (r.state().holdsVm()) {
                require(r.vm() != null && alive.stream().anyMatch(vm -> vm.record().pid() == r.vm().pid()),
                        "sandbox " + r.id() + " is " + r.state() + " but its VM is not running");
            }
        }
        List<String> unclaimed = alive.stream().filter(vm -> !servingPids.contains(vm.record().pid()))
                .map(vm -> vm.record().vmId()).sorted().toList();
        int pooled = daemon.manager.warmPoolStatus().map(p -> p.ready()).orElse(0);
        require(unclaimed.size() == pooled, "orphan VM: " + unclaimed + " run for no sandbox, and the warm pool holds "
                + pooled);
        Set<String> aliveIds = alive.stream().map(vm -> vm.record().vmId()).collect(Collectors.toSet());
        Set<String> suspended = sandboxes.stream().filter(r -> r.state() == SandboxState.SUSPENDED)
                .map(SandboxRecord::id).collect(Collectors.toSet());
        for (String dir : runtimeDirs()) {
            require(aliveIds.contains(dir) || suspended.contains(dir), "runtime directory " + dir
                    + " is left without a running VM or a suspended sandbox");
        }
        forksKeepTheirMemory(aliveIds);
    }

    /**
     * A SUSPENDED sandbox's VM process is gone and its whole saved state is on disk, for the next call to resume; a
     * sandbox that runs has no saved state left (once no operation is running).
     */
    private void suspendedMeansStateOnDiskAndNoVm(List<SandboxRecord> sandboxes) {
        for (SandboxRecord r : sandboxes) {
            Path state = world.stateDir.resolve("vms").resolve(r.id()).resolve("suspended");
            if (r.state() == SandboxState.SUSPENDED) {
                require(r.vm() == null && world.vms.booted.stream().noneMatch(vm -> vm.isAlive()
                        && vm.record().vmId().equals(r.id())), "sandbox " + r.id() + " is SUSPENDED but a VM of it runs");
                require(Files.isRegularFile(state.resolve("memory")) && Files.isRegularFile(state.resolve("disk")),
                        "sandbox " + r.id() + " is SUSPENDED without its saved state");
            } else if (r.state() == SandboxState.READY && daemon.background.idle()) {
                require(!Files.exists(state), "sandbox " + r.id() + " runs again but its suspended state is left");
            }
        }
    }

    /**
     * A fork's frozen RAM lives only as links in its copies' runtime directories (a runtime directory without a VM,
     * a fork's work directory included, is caught above): so no RAM file is without a sandbox, and whatever became of
     * the source, every copy still reads the memory it was forked with.
     */
    private void forksKeepTheirMemory(Set<String> aliveIds) {
        for (String id : aliveIds) {
            Path ram = world.stateDir.resolve("vms").resolve(id).resolve(dev.kelpie.daemon.sandboxes.FakeHypervisor.RAM_LINK);
            if (Files.exists(ram)) {
                try {
                    require(Files.readString(ram).startsWith("ram of "), "the RAM of fork " + id + " was damaged");
                } catch (IOException e) {
                    throw new AssertionError("the RAM of fork " + id + " is unreadable: " + e, e);
                }
            }
        }
    }

    private List<String> runtimeDirs() {
        Path vms = world.stateDir.resolve("vms");
        if (!Files.isDirectory(vms)) {
            return List.of();
        }
        try (Stream<Path> dirs = Files.list(vms)) {
            return dirs.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new AssertionError("listing " + vms + ": " + e, e);
        }
    }

    /**
     * A READY sandbox has a running VM whose agent answers (once the daemon's background work, which re-dials
     * agents after a restart, has run).
     */
    private void readyMeansALiveAgent(List<SandboxRecord> sandboxes) throws InterruptedException {
        if (!daemon.background.idle()) {
            return;
        }
        for (SandboxRecord r : sandboxes) {
            if (r.state() != SandboxState.READY) {
                continue;
            }
            try {
                ManagedChannel agent = daemon.manager.agent(r.id());
                AgentGrpc.newBlockingStub(agent).withDeadlineAfter(HEALTH_DEADLINE_MS, TimeUnit.MILLISECONDS)
                        .health(HealthRequest.getDefaultInstance());
            } catch (RuntimeException e) {
                throw new AssertionError("sandbox " + r.id() + " is READY but its agent does not answer: " + e, e);
            }
        }
    }

    /** No Exec stream ends twice; one whose process is over (or whose daemon died) has ended, exactly once. */
    private void everyExecEndsOnce(List<ClientExec> execs) throws InterruptedException {
        for (ClientExec exec : execs) {
            if (exec.mustHaveEnded()) {
                exec.awaitEnd(STREAM_END_DEADLINE);
                require(exec.endings() == 1, exec.name + " on " + exec.sandboxId + " ended " + exec.endings()
                        + " times; its process " + (exec.process == null ? "never started" : "has ended"));
            }
            require(exec.endings() <= 1, exec.name + " ended " + exec.endings() + " times");
            if (exec.endings() == 1 && exec.status().isOk()) {
                require(exec.sawExit(), exec.name + " completed without the process's exit status");
            }
            if (exec.endings() == 1 && !exec.status().isOk()) {
                requireClear(exec.status(), exec.name);
            }
        }
    }

    static void requireClear(Status status, String what) {
        require(status.getCode() != Status.Code.INTERNAL && status.getCode() != Status.Code.UNKNOWN,
                what + " failed with " + status.getCode() + " (an unexpected error): " + status.getDescription());
        require(status.getDescription() != null && !status.getDescription().isBlank(),
                what + " failed with " + status.getCode() + " and no message");
    }

    /** A package a reader can see is whole: its manifest parses and every blob matches its size and hash. */
    private void onlyWholePackages() throws IOException {
        PackageReader reader = new PackageReader();
        for (String id : daemon.packages.list()) {
            try {
                PackageManifest manifest = reader.readManifest(daemon.packages, id).manifest();
                reader.verifyAll(daemon.packages, manifest);
            } catch (IOException | RuntimeException e) {
                throw new AssertionError("package " + id + " is listed but not whole: " + e, e);
            }
        }
    }

    /**
     * Every blob in the cache hashes to its name, and every cached image's index names blobs of the sizes it
     * records (the cache's own load check).
     */
    private void onlyVerifiedImages() throws IOException {
        Path blobs = daemon.cache.root().resolve("blobs").resolve("sha256");
        for (Path blob : children(blobs)) {
            FileTime modified = Files.getLastModifiedTime(blob);
            if (!modified.equals(hashedBlobs.get(blob))) {
                require(BlobHashing.sha256(blob).equals(blob.getFileName().toString()),
                        "cache blob " + blob.getFileName() + " does not hash to its name");
                hashedBlobs.put(blob, modified);
            }
        }
        for (CachedImage image : daemon.cache.list()) {
            for (var file : image.files()) {
                Path blob = image.blobs().get(file.name());
                require(blob != null && Files.size(blob) == file.sizeBytes() && blob.getFileName().toString()
                        .equals(file.sha256()), "cached image " + image.key() + " has no intact blob for " + file.name());
            }
        }
    }

    /** Between operations no scratch space holds anything: not the teleport staging area, the cache's or the store's. */
    private void noScratchLeft() throws IOException {
        List<Path> left = new ArrayList<>();
        left.addAll(children(daemon.staging.root()));
        left.addAll(children(daemon.cache.root().resolve("staging")));
        left.addAll(children(world.stateDir.resolve("packages").resolve(".staging")));
        require(left.isEmpty(), "scratch files left between operations: " + left);
    }

    private static List<Path> children(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        }
    }

    private static void require(boolean holds, String violation) {
        if (!holds) {
            throw new AssertionError(violation);
        }
    }
}
