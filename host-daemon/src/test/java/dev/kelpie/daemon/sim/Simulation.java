package dev.kelpie.daemon.sim;

import dev.kelpie.api.v1.Command;
import dev.kelpie.api.v1.CreateSandboxRequest;
import dev.kelpie.api.v1.DeletePackageRequest;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.ForkSandboxRequest;
import dev.kelpie.api.v1.ExecRequest;
import dev.kelpie.api.v1.ExportPackageRequest;
import dev.kelpie.api.v1.ImportPackageRequest;
import dev.kelpie.api.v1.ImportPackageResponse;
import dev.kelpie.api.v1.ImportPackageStart;
import dev.kelpie.api.v1.PauseSandboxRequest;
import dev.kelpie.api.v1.PullImageRequest;
import dev.kelpie.api.v1.PullImageResponse;
import dev.kelpie.api.v1.RemoveImageRequest;
import dev.kelpie.api.v1.RestoreRequest;
import dev.kelpie.api.v1.ResumeSandboxRequest;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SnapshotKind;
import dev.kelpie.api.v1.SnapshotRequest;
import dev.kelpie.daemon.sandboxes.FakeHypervisor.FakeVm;
import dev.kelpie.daemon.sandboxes.InProcessAgents.RunningExec;
import dev.kelpie.daemon.sandboxes.SandboxRecord;
import dev.kelpie.daemon.sandboxes.SandboxState;
import com.google.protobuf.ByteString;
import io.grpc.StatusRuntimeException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import java.util.function.Predicate;

/**
 * One seeded run: a daemon made of the real parts over a simulated world, driven through a random sequence of API
 * calls and world events while faults strike its seams, with every invariant checked after every step. The seed
 * decides everything — the steps, their arguments, which fault strikes where — so a failing seed replays exactly.
 *
 * <p>Each step runs on its own thread while the driver waits for it to finish or for the daemon to die at a fault;
 * a dead daemon is replaced by a successor on the same state, as a supervisor restarts it.
 */
final class Simulation {

    static final int STEPS = 40;
    private static final double FAULT_PROBABILITY = 0.4;
    private static final Duration STEP_DEADLINE = Duration.ofSeconds(60);
    private static final List<String> CREATE_VERSIONS = List.of("", SimReleases.BASE, "1.2.4", "1.3.0");
    private static final long EXEC_TIMEOUT_MS = 5_000;
    private static final long SANDBOX_TTL_MS = 30_000;
    private static final long SANDBOX_IDLE_TIMEOUT_MS = 15_000;
    private static final int MAX_BACKGROUND_TASKS = 100;
    private static final int UPLOAD_CHUNK_BYTES = 4096;

    private final SimWorld world;
    private final Random random;
    /**
     * Draws the idle actions of new sandboxes apart from {@link #random}, so that every seed's other steps stay what
     * they were before sandboxes had idle actions.
     */
    private final Random idleActions;
    private final int warmPoolSize;
    private final List<String> trace = new ArrayList<>();
    private final List<ClientExec> execs = new ArrayList<>();
    private final Invariants invariants;
    private final List<SimDaemon> deadDaemons = new ArrayList<>();
    private SimDaemon daemon;

    private Simulation(SimWorld world) {
        this.world = world;
        this.random = new Random(world.seed);
        this.idleActions = new Random(~world.seed);
        this.warmPoolSize = random.nextInt(2);
        this.invariants = new Invariants(world);
    }

    /**
     * Runs {@code seed} to the end.
     *
     * @return the trace, one line a step
     * @throws SimulationFailure when an invariant breaks or a step hangs
     */
    static List<String> run(long seed, Path stateDir, SimReleases releases, ScheduledExecutorService watchdog,
            boolean plantedBug) throws IOException, InterruptedException {
        SimWorld world = new SimWorld(seed, stateDir, releases, watchdog, plantedBug);
        Simulation simulation = new Simulation(world);
        try {
            simulation.play();
            return List.copyOf(simulation.trace);
        } catch (AssertionError e) {
            throw new SimulationFailure(seed, simulation.trace, e);
        } finally {
            world.faults.releaseDeadDaemons();
            // Not waited for: shutting a dead daemon's server down runs its handlers, which its unwinding threads
            // may still hold locks for.
            Thread.ofVirtual().name("sim-cleanup-" + seed).start(() -> {
                simulation.deadDaemons.forEach(SimDaemon::close);
                if (simulation.daemon != null) {
                    simulation.daemon.close();
                }
                world.agents.close();
            });
        }
    }

    private void play() throws IOException, InterruptedException {
        daemon = SimDaemon.start(world, 0);
        // Every run starts with the base image cached, as after a first pull.
        pull(SimReleases.BASE);
        daemon.stop();
        daemon = SimDaemon.start(world, warmPoolSize);
        trace.add("0: warm pool of " + warmPoolSize + ", image " + SimReleases.BASE + " cached");
        for (int step = 1; step <= STEPS; step++) {
            Weighted next = nextAction();
            world.faults.arm(random, FAULT_PROBABILITY, next.seams());
            String outcome = next.action().get();
            Optional<Faults.Armed> fired = world.faults.disarm();
            if (daemon.life.dead()) {
                outcome += "; the daemon died (" + daemon.life.crashed().join() + ") and restarted";
                restart();
            }
            trace.add(step + ": " + outcome + fired.map(f -> " [fault: " + f + "]").orElse(""));
            invariants.check(daemon, execs);
        }
        finish();
    }

    private interface Action {
        String get() throws IOException, InterruptedException;
    }

    /** A kind of step, how often it comes, and the fault points (by name prefix) it can pass. */
    private record Weighted(int weight, Action action, List<String> seams) {}

    private static final List<String> RECORDS = List.of("record.", "runtime.");

    private static List<String> seams(List<String> specific) {
        List<String> all = new ArrayList<>(specific);
        all.addAll(RECORDS);
        return all;
    }

    private Weighted nextAction() {
        List<Weighted> actions = List.of(
                new Weighted(12, this::create, seams(List.of("vm.boot", "agent.dial", "release.", "vm.sweep"))),
                new Weighted(10, this::exec, List.of()),
                new Weighted(8, this::processExits, List.of()),
                new Weighted(5, this::timePasses, seams(List.of("vm.stop", "vm.pause", "vm.save"))),
                new Weighted(4, this::agentDisconnects, List.of()),
                new Weighted(4, this::vmCrashes, seams(List.of())),
                new Weighted(4, this::pause, seams(List.of("vm.pause"))),
                new Weighted(4, this::resume, seams(List.of("vm.restore", "vm.boot", "agent.dial"))),
                new Weighted(7, this::delete, seams(List.of("vm.stop"))),
                new Weighted(8, this::fork, seams(List.of("vm.save", "vm.restore", "vm.boot", "agent.dial"))),
                new Weighted(12, this::snapshot, seams(List.of("vm.save", "store.publish", "store.published", "vm.stop"))),
                new Weighted(10, this::restore, seams(List.of("store.manifest", "store.blob", "vm.restore", "vm.boot",
                        "agent.dial"))),
                new Weighted(3, () -> pull(pick(SimReleases.VERSIONS)), List.of("release.")),
                new Weighted(2, this::removeImage, List.of()),
                new Weighted(4, this::exportAndImport, List.of("store.")),
                new Weighted(3, this::daemonKilled, List.of()),
                new Weighted(6, this::background, seams(List.of("vm.boot", "agent.dial"))),
                new Weighted(12, this::race, seams(List.of("vm.", "agent.dial"))));
        int total = actions.stream().mapToInt(Weighted::weight).sum();
        int roll = random.nextInt(total);
        for (Weighted w : actions) {
            roll -= w.weight();
            if (roll < 0) {
                return w;
            }
        }
        throw new IllegalStateException("weights do not add up");
    }

    // ---- steps -----------------------------------------------------------------------------------------------

    private String create() throws InterruptedException {
        String version = pick(CREATE_VERSIONS);
        SandboxSpec.Builder spec = SandboxSpec.newBuilder().setImageVersion(version).putLabels("sim", "yes");
        if (random.nextInt(4) == 0) {
            spec.setTtlMs(SANDBOX_TTL_MS);
        }
        if (idleActions.nextInt(3) == 0) {
            // Suspended or paused as time passes, resumed by a Resume (ADR 0029).
            spec.setIdleTimeoutMs(SANDBOX_IDLE_TIMEOUT_MS).setIdleAction(idleActions.nextInt(3) == 0
                    ? dev.kelpie.api.v1.IdleAction.IDLE_ACTION_PAUSE : dev.kelpie.api.v1.IdleAction.IDLE_ACTION_SNAPSHOT);
        }
        int before = sandboxes(r -> true).size();
        Result result = call(() -> daemon.api().create(CreateSandboxRequest.newBuilder().setSpec(spec).build())
                .getSandbox().getId());
        if (!result.ok() && !daemon.life.dead()) {
            require(sandboxes(r -> true).size() == before, "a failed create left a sandbox behind");
        }
        return "create " + (version.isEmpty() ? "newest" : version) + " -> " + result;
    }

    private String exec() throws InterruptedException {
        Optional<String> id = pickSandbox(r -> r.state() == SandboxState.READY);
        if (id.isEmpty()) {
            return "exec: no ready sandbox";
        }
        long timeoutMs = random.nextBoolean() ? EXEC_TIMEOUT_MS : 0;
        ClientExec client = new ClientExec("exec#" + (execs.size() + 1), id.get(), daemon.life, world.clock.millis(),
                timeoutMs);
        int processesBefore = world.agents.execs.size();
        ExecRequest request = ExecRequest.newBuilder().setSandboxId(id.get())
                .setCommand(Command.newBuilder().addArgv("python3").addArgv("main.py").setTimeoutMs(timeoutMs)).build();
        inStep(() -> {
            daemon.asyncApi().exec(request, client);
            return null;
        });
        if (world.agents.execs.size() > processesBefore) {
            client.process = world.agents.execs.get(world.agents.execs.size() - 1);
        }
        execs.add(client);
        return client.name + " on " + id.get() + (client.process == null ? " -> refused" : " -> running");
    }

    private String processExits() {
        List<ClientExec> running = execs.stream().filter(e -> e.process != null && !e.process.ended()).toList();
        if (running.isEmpty()) {
            return "exit: no running process";
        }
        ClientExec exec = running.get(random.nextInt(running.size()));
        int code = random.nextInt(3);
        exec.process.print("hello\n");
        exec.process.exit(code);
        return exec.name + " exits " + code;
    }

    private String timePasses() throws InterruptedException {
        Duration by = Duration.ofSeconds(1 + random.nextInt(20));
        world.clock.advance(by);
        long now = world.clock.millis();
        List<String> timedOut = new ArrayList<>();
        for (ClientExec exec : execs) {
            RunningExec p = exec.process;
            if (p != null && !p.ended() && exec.timeoutMs > 0 && now - exec.startedAtMs >= exec.timeoutMs) {
                p.timeOut();
                timedOut.add(exec.name);
            }
        }
        Result reaped = call(() -> {
            List<String> ids = daemon.manager.reapExpired();
            world.deleted.addAll(ids);
            return ids.toString();
        });
        return "time passes " + by.toSeconds() + " s; timed out " + timedOut + "; reaped " + reaped;
    }

    private String agentDisconnects() {
        Optional<String> id = pickSandbox(r -> r.state() == SandboxState.READY);
        if (id.isEmpty()) {
            return "disconnect: no ready sandbox";
        }
        world.agents.disconnect(daemon.manager.get(id.get()).vm().agentSocket().toString());
        return "the agent of " + id.get() + " loses its connection";
    }

    private String vmCrashes() throws InterruptedException {
        List<FakeVm> alive = world.vms.booted.stream().filter(FakeVm::isAlive)
                .sorted(Comparator.comparingLong(vm -> vm.record().pid())).toList();
        if (alive.isEmpty()) {
            return "vm crash: no VM runs";
        }
        FakeVm vm = alive.get(random.nextInt(alive.size()));
        inStep(() -> {
            vm.crash();
            return null;
        });
        return "VM " + vm.record().vmId() + " crashes";
    }

    private String pause() throws InterruptedException {
        return onSandbox("pause", id -> daemon.api().pause(PauseSandboxRequest.newBuilder().setId(id).build())
                .getSandbox().getState().name());
    }

    private String resume() throws InterruptedException {
        return onSandbox("resume", id -> daemon.api().resume(ResumeSandboxRequest.newBuilder().setId(id).build())
                .getSandbox().getState().name());
    }

    private String delete() throws InterruptedException {
        return onSandbox("delete", this::deleteSandbox);
    }

    /** Deletes through the API; an OK answer means the sandbox is gone for good, which the invariants hold it to. */
    private String deleteSandbox(String id) {
        return deleteSandbox(daemon, id);
    }

    private String deleteSandbox(SimDaemon on, String id) {
        on.api().delete(DeleteSandboxRequest.newBuilder().setId(id).build());
        world.deleted.add(id);
        return "deleted";
    }

    /** A fork makes all its copies or none: a failure (the daemon living on) leaves the sandboxes as they were. */
    private String fork() throws InterruptedException {
        Optional<String> id = random.nextInt(5) == 0 ? pickSandbox(r -> true)
                : pickSandbox(r -> r.state() == SandboxState.READY);
        if (id.isEmpty()) {
            return "fork: no sandbox";
        }
        int count = 1 + random.nextInt(3);
        int before = sandboxes(r -> true).size();
        Result result = call(() -> daemon.api().fork(ForkSandboxRequest.newBuilder().setId(id.get()).setCount(count)
                .build()).getSandboxesList().stream().map(dev.kelpie.api.v1.Sandbox::getId).toList().toString());
        if (!result.ok() && !daemon.life.dead()) {
            require(sandboxes(r -> true).size() == before, "a failed fork left copies behind");
        }
        return "fork " + id.get() + " x" + count + " -> " + result;
    }

    private String snapshot() throws IOException, InterruptedException {
        Optional<String> id = random.nextInt(5) == 0 ? pickSandbox(r -> true)
                : pickSandbox(r -> r.state() == SandboxState.READY);
        if (id.isEmpty()) {
            return "snapshot: no sandbox";
        }
        SnapshotKind kind = random.nextBoolean() ? SnapshotKind.SNAPSHOT_KIND_VM : SnapshotKind.SNAPSHOT_KIND_CHECKPOINT;
        boolean stopAfter = random.nextInt(5) == 0;
        List<String> before = packages();
        Result result = call(() -> daemon.api().snapshot(SnapshotRequest.newBuilder().setSandboxId(id.get())
                .setKind(kind).setStopAfter(stopAfter).build()).getPackage().getId());
        if (!daemon.life.dead()) {
            if (result.ok()) {
                require(packages().contains(result.value()), "snapshot " + result.value() + " is not listed");
                if (stopAfter) {
                    world.deleted.add(id.get());
                }
            } else {
                require(packages().equals(before), "a failed snapshot changed the store: " + before + " -> "
                        + packages());
            }
        }
        return "snapshot " + id.get() + " " + kind.name().toLowerCase().replace("snapshot_kind_", "")
                + (stopAfter ? " and stop" : "") + " -> " + result;
    }

    private String restore() throws IOException, InterruptedException {
        List<String> published = packages();
        String packageId = published.isEmpty() || random.nextInt(10) == 0 ? "pkg-missing" : pick(published);
        String version = random.nextInt(4) == 0 ? pick(SimReleases.VERSIONS) : "";
        int before = sandboxes(r -> true).size();
        Result result = call(() -> daemon.api().restore(RestoreRequest.newBuilder().setPackageId(packageId)
                .setImageVersion(version).build()).getSandbox().getId());
        if (!daemon.life.dead()) {
            if (result.ok()) {
                require(daemon.manager.get(result.value()).state() == SandboxState.READY,
                        "restored sandbox " + result.value() + " is not READY");
            } else {
                require(sandboxes(r -> true).size() == before, "a failed restore left a sandbox behind");
            }
        }
        return "restore " + packageId + (version.isEmpty() ? "" : " on " + version) + " -> " + result;
    }

    /**
     * Moves a package out and back in through Export and Import, the way a package travels between hosts; the upload
     * may be cut short (a partial upload), which must publish nothing.
     */
    private String exportAndImport() throws IOException, InterruptedException {
        List<String> published = packages();
        if (published.isEmpty()) {
            return "export/import: no package";
        }
        String id = pick(published);
        byte[] manifest = daemon.packages.readManifest(id, Integer.MAX_VALUE).orElseThrow();
        ByteArrayOutputStream exported = new ByteArrayOutputStream();
        Result export = call(() -> {
            daemon.packagesApi().export(ExportPackageRequest.newBuilder().setId(id).build())
                    .forEachRemaining(r -> exported.writeBytes(r.getData().toByteArray()));
            return exported.size() + " bytes";
        });
        if (!export.ok()) {
            return "export " + id + " -> " + export;
        }
        Result deleted = call(() -> {
            daemon.packagesApi().delete(DeletePackageRequest.newBuilder().setId(id).build());
            return "deleted";
        });
        if (!deleted.ok()) {
            return "export " + id + ", delete -> " + deleted;
        }
        byte[] tar = exported.toByteArray();
        boolean partial = random.nextInt(3) == 0;
        byte[] sent = partial ? Arrays.copyOf(tar, random.nextInt(tar.length)) : tar;
        Result imported = call(() -> upload(sent));
        if (!daemon.life.dead()) {
            if (imported.ok()) {
                // A cut in the tar's end padding still carries the whole package, which then verifies like any other.
                require(id.equals(imported.value()) && Arrays.equals(manifest,
                        daemon.packages.readManifest(id, Integer.MAX_VALUE).orElse(null)),
                        "import of " + id + " published " + imported.value() + ", not the exported package");
            } else {
                require(!packages().contains(id), "a failed import of " + id + " published it");
            }
        }
        return "export " + id + ", delete, import " + (partial ? sent.length + " of " + tar.length + " bytes" : "whole")
                + " -> " + imported;
    }

    private String upload(byte[] tar) throws InterruptedException, ExecutionException {
        CompletableFuture<String> answer = new CompletableFuture<>();
        var requests = daemon.asyncPackagesApi().import_(new io.grpc.stub.StreamObserver<ImportPackageResponse>() {
            @Override
            public void onNext(ImportPackageResponse response) {
                answer.complete(response.getPackage().getId());
            }

            @Override
            public void onError(Throwable t) {
                answer.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
                answer.complete("(no answer)");
            }
        });
        requests.onNext(ImportPackageRequest.newBuilder().setStart(ImportPackageStart.getDefaultInstance()).build());
        for (int at = 0; at < tar.length; at += UPLOAD_CHUNK_BYTES) {
            requests.onNext(ImportPackageRequest.newBuilder()
                    .setData(ByteString.copyFrom(tar, at, Math.min(UPLOAD_CHUNK_BYTES, tar.length - at))).build());
        }
        requests.onCompleted();
        try {
            return answer.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof StatusRuntimeException status) {
                throw status;
            }
            throw e;
        }
    }

    private String pull(String version) throws InterruptedException {
        Result result = call(() -> {
            String pulled = "nothing";
            for (var it = daemon.images().pull(PullImageRequest.newBuilder().setVersion(version)
                    .setArch(SimReleases.ARCH).build()); it.hasNext(); ) {
                PullImageResponse response = it.next();
                if (response.hasImage()) {
                    pulled = response.getImage().getVersion();
                }
            }
            return pulled;
        });
        return "pull " + version + " -> " + result;
    }

    private String removeImage() throws InterruptedException {
        String version = pick(SimReleases.VERSIONS);
        Result result = call(() -> {
            daemon.images().remove(RemoveImageRequest.newBuilder().setVersion(version).setArch(SimReleases.ARCH).build());
            return "removed";
        });
        return "remove image " + version + " -> " + result;
    }

    private String daemonKilled() {
        Faults.killIdle(daemon.life);
        return "kill -9 of the idle daemon";
    }

    private String background() throws InterruptedException {
        return "background work -> " + call(() -> runBackgroundTasks(daemon));
    }

    private static String runBackgroundTasks(SimDaemon on) {
        int ran = 0;
        for (Optional<Runnable> task = on.background.next(); task.isPresent() && ran < MAX_BACKGROUND_TASKS;
                task = on.background.next()) {
            task.get().run();
            ran++;
        }
        return ran + " tasks";
    }

    // ---- two operations at once ------------------------------------------------------------------------------

    /**
     * Two operations on one daemon at the same time: the first is held at a seam midway (its VM booting, its agent
     * being dialled, its record being written, its VM being saved, paused or stopped), the second runs until it ends
     * or waits, then the first goes on. Both must end with a clear answer and every invariant must hold after them.
     */
    private String race() throws InterruptedException {
        return switch (random.nextInt(5)) {
            case 0 -> createWhileDeleted();
            case 1 -> snapshotWhileDeleted();
            case 2 -> execWhilePausing();
            case 3 -> createWhilePoolRefills();
            default -> deleteTwice();
        };
    }

    private String createWhileDeleted() throws InterruptedException {
        SimDaemon d = daemon; // the racing threads act on this daemon even if it dies and another replaces it
        String point = pick(List.of("vm.boot", "agent.dial", "record.save"));
        int call = point.equals("record.save") ? 1 + random.nextInt(2) : 1;
        AtomicReference<String> created = new AtomicReference<>();
        return "race: create held at " + point + " call " + call + " | delete -> " + interleave(point, call,
                () -> {
                    String id = d.api().create(CreateSandboxRequest.newBuilder().setSpec(SandboxSpec.newBuilder()
                            .setImageVersion(SimReleases.BASE).putLabels("sim", "yes")).build()).getSandbox().getId();
                    created.set(id);
                    return id;
                },
                () -> {
                    Optional<String> creating = pickSandbox(r -> r.state() == SandboxState.CREATING)
                            .or(() -> Optional.ofNullable(created.get()));
                    return creating.<Callable<String>>map(id -> () -> deleteSandbox(d, id)).orElse(() -> "nothing to delete");
                });
    }

    private String snapshotWhileDeleted() throws InterruptedException {
        SimDaemon d = daemon; // the racing threads act on this daemon even if it dies and another replaces it
        Optional<String> id = pickSandbox(r -> r.state() == SandboxState.READY);
        if (id.isEmpty()) {
            return "race: snapshot | delete: no ready sandbox";
        }
        return "race: vm snapshot of " + id.get() + " held at vm.save | delete -> " + interleave("vm.save", 1,
                () -> d.api().snapshot(SnapshotRequest.newBuilder().setSandboxId(id.get())
                        .setKind(SnapshotKind.SNAPSHOT_KIND_VM).build()).getPackage().getId(),
                () -> () -> deleteSandbox(d, id.get()));
    }

    private String execWhilePausing() throws InterruptedException {
        SimDaemon d = daemon; // the racing threads act on this daemon even if it dies and another replaces it
        Optional<String> id = pickSandbox(r -> r.state() == SandboxState.READY);
        if (id.isEmpty()) {
            return "race: pause | exec: no ready sandbox";
        }
        ClientExec client = new ClientExec("exec#" + (execs.size() + 1), id.get(), daemon.life, world.clock.millis(), 0);
        execs.add(client);
        return "race: pause of " + id.get() + " held at vm.pause | " + client.name + " -> " + interleave("vm.pause", 1,
                () -> d.api().pause(PauseSandboxRequest.newBuilder().setId(id.get()).build()).getSandbox()
                        .getState().name(),
                () -> () -> {
                    int processesBefore = world.agents.execs.size();
                    d.asyncApi().exec(ExecRequest.newBuilder().setSandboxId(id.get())
                            .setCommand(Command.newBuilder().addArgv("python3").addArgv("main.py")).build(), client);
                    if (world.agents.execs.size() > processesBefore) {
                        client.process = world.agents.execs.get(world.agents.execs.size() - 1);
                    }
                    return client.process == null ? "refused" : "running";
                });
    }

    private String createWhilePoolRefills() throws InterruptedException {
        SimDaemon d = daemon; // the racing threads act on this daemon even if it dies and another replaces it
        return "race: pool refill held at vm.boot | create -> " + interleave("vm.boot", 1, () -> runBackgroundTasks(d),
                () -> () -> d.api().create(CreateSandboxRequest.newBuilder().setSpec(SandboxSpec.newBuilder()
                        .putLabels("sim", "yes")).build()).getSandbox().getId());
    }

    private String deleteTwice() throws InterruptedException {
        SimDaemon d = daemon; // the racing threads act on this daemon even if it dies and another replaces it
        Optional<String> id = pickSandbox(r -> true);
        if (id.isEmpty()) {
            return "race: delete | delete: no sandbox";
        }
        return "race: delete of " + id.get() + " held at vm.stop | delete -> " + interleave("vm.stop", 1,
                () -> deleteSandbox(d, id.get()), () -> () -> deleteSandbox(d, id.get()));
    }

    /**
     * Runs {@code first} until the {@code call}-th call of {@code point} holds it (or it ends), then the operation
     * {@code second} names at that moment until it ends or waits (for a lock the first holds, say), then lets the first
     * go on and waits for both.
     */
    private String interleave(String point, int call, Callable<String> first, Supplier<Callable<String>> second)
            throws InterruptedException {
        Faults.Hold hold = world.faults.holdAt(point, call);
        try {
            Running a = Running.start("sim-race-first", first);
            awaitAny(List.of(hold.reached(), a.done, daemon.life.crashed()), "the first operation");
            Running b = Running.start("sim-race-second", second.get());
            long deadline = System.nanoTime() + STEP_DEADLINE.toNanos();
            while (!b.done.isDone() && !daemon.life.dead() && !b.waits()) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("the second operation neither ended nor waited within "
                            + STEP_DEADLINE.toSeconds() + " s");
                }
                Thread.onSpinWait();
            }
            world.faults.clearHold();
            String outcomeA = a.outcome(daemon.life);
            String outcomeB = b.outcome(daemon.life);
            return (hold.reached().isDone() ? "" : "(not held) ") + outcomeA + " | " + outcomeB;
        } finally {
            world.faults.clearHold();
        }
    }

    private void awaitAny(List<CompletableFuture<?>> futures, String what) throws InterruptedException {
        try {
            CompletableFuture.anyOf(futures.toArray(CompletableFuture[]::new))
                    .get(STEP_DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError(what + " hung: it neither reached its hold nor ended within "
                    + STEP_DEADLINE.toSeconds() + " s");
        } catch (ExecutionException e) {
            // an operation that failed has ended; its outcome tells how
        }
    }

    /** One operation of a race on its own thread; a gRPC failure is an answer, which must be a clear one. */
    private record Running(Thread thread, CompletableFuture<Result> done) {

        static Running start(String name, Callable<String> body) {
            CompletableFuture<Result> done = new CompletableFuture<>();
            Thread thread = Thread.ofVirtual().name(name).start(() -> {
                try {
                    done.complete(new Result(true, body.call()));
                } catch (StatusRuntimeException e) {
                    done.complete(new Result(false, e.getStatus().getCode().name() + " "
                            + e.getStatus().getDescription()));
                } catch (Throwable t) {
                    done.completeExceptionally(t);
                }
            });
            return new Running(thread, done);
        }

        boolean waits() {
            Thread.State state = thread.getState();
            return state == Thread.State.WAITING || state == Thread.State.TIMED_WAITING
                    || state == Thread.State.BLOCKED;
        }

        String outcome(Faults.Life life) throws InterruptedException {
            try {
                CompletableFuture.anyOf(done, life.crashed()).get(STEP_DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                throw new AssertionError(thread.getName() + " hung after the hold was released");
            } catch (ExecutionException e) {
                throw new AssertionError(thread.getName() + " failed unexpectedly: " + e.getCause(), e.getCause());
            }
            if (!done.isDone()) {
                return "(daemon died)";
            }
            try {
                Result result = done.get();
                if (!result.ok()) {
                    String code = result.value().split(" ", 2)[0];
                    Invariants.requireClear(io.grpc.Status.fromCode(io.grpc.Status.Code.valueOf(code))
                            .withDescription(result.value().substring(code.length()).strip()), thread.getName());
                    return code;
                }
                return result.value();
            } catch (ExecutionException e) {
                throw new AssertionError(thread.getName() + " failed unexpectedly: " + e.getCause(), e.getCause());
            }
        }
    }

    // ---- the run's end -----------------------------------------------------------------------------------------

    /** Without faults: every sandbox deleted, every stream ended once, and after a clean stop no VM runs. */
    private void finish() throws IOException, InterruptedException {
        background();
        for (SandboxRecord r : daemon.manager.list(Map.of())) {
            Result deleted = call(() -> deleteSandbox(r.id()));
            require(deleted.ok(), "deleting " + r.id() + " at the end failed: " + deleted);
        }
        trace.add("end: every sandbox deleted");
        invariants.check(daemon, execs);
        for (ClientExec exec : execs) {
            exec.awaitEnd(STEP_DEADLINE);
            require(exec.endings() == 1, exec.name + " ended " + exec.endings() + " times by the end");
        }
        daemon.stop();
        List<String> alive = world.vms.booted.stream().filter(FakeVm::isAlive).map(vm -> vm.record().vmId()).toList();
        require(alive.isEmpty(), "VMs still run after every sandbox was deleted and the daemon stopped: "
                + alive);
    }

    // ---- helpers -----------------------------------------------------------------------------------------------

    /** What an API call or daemon operation came to: its value, or the status code it failed with. */
    private record Result(boolean ok, String value) {
        @Override
        public String toString() {
            return value;
        }
    }

    /**
     * Runs a call as one step; a gRPC failure is an answer (which must be a clear one), anything else a bug. After
     * the daemon died in it, the result says so.
     */
    private Result call(Callable<String> body) throws InterruptedException {
        Result result = inStep(() -> {
            try {
                return new Result(true, body.call());
            } catch (StatusRuntimeException e) {
                Invariants.requireClear(e.getStatus(), "the call");
                return new Result(false, e.getStatus().getCode().name());
            }
        });
        return result == null ? new Result(false, "(daemon died)") : result;
    }

    /**
     * Runs {@code body} on its own thread and waits until it returns or the daemon dies in it; null in the second
     * case, since the thread never returns.
     */
    private <T> T inStep(Callable<T> body) throws InterruptedException {
        CompletableFuture<T> done = new CompletableFuture<>();
        Thread.ofVirtual().name("sim-step").start(() -> {
            try {
                done.complete(body.call());
            } catch (Throwable t) {
                done.completeExceptionally(t);
            }
        });
        try {
            CompletableFuture.anyOf(done, daemon.life.crashed()).get(STEP_DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError("a step hung: it neither finished nor crashed within " + STEP_DEADLINE.toSeconds()
                    + " s");
        } catch (ExecutionException e) {
            throw new AssertionError("the step failed unexpectedly: " + e.getCause(), e.getCause());
        }
        if (!done.isDone()) {
            return null;
        }
        try {
            return done.get();
        } catch (ExecutionException e) {
            throw new AssertionError("the step failed unexpectedly: " + e.getCause(), e.getCause());
        }
    }

    private String onSandbox(String what, CallOnSandbox body) throws InterruptedException {
        Optional<String> id = pickSandbox(r -> true);
        if (id.isEmpty()) {
            return what + ": no sandbox";
        }
        return what + " " + id.get() + " -> " + call(() -> body.call(id.get()));
    }

    @FunctionalInterface
    private interface CallOnSandbox {
        String call(String id);
    }

    private void restart() throws IOException {
        deadDaemons.add(daemon);
        daemon = SimDaemon.start(world, warmPoolSize);
    }

    private List<SandboxRecord> sandboxes(Predicate<SandboxRecord> filter) {
        return daemon.manager.list(Map.of()).stream().filter(filter).toList();
    }

    private Optional<String> pickSandbox(Predicate<SandboxRecord> filter) {
        List<SandboxRecord> candidates = sandboxes(filter);
        return candidates.isEmpty() ? Optional.empty()
                : Optional.of(candidates.get(random.nextInt(candidates.size())).id());
    }

    private List<String> packages() throws IOException {
        return daemon.packages.list().stream().sorted().toList();
    }

    private <T> T pick(List<T> from) {
        return from.get(random.nextInt(from.size()));
    }

    private static void require(boolean holds, String violation) {
        if (!holds) {
            throw new AssertionError(violation);
        }
    }
}
