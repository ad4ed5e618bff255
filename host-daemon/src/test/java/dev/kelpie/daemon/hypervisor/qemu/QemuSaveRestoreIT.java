package dev.kelpie.daemon.hypervisor.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.agent.v1.AgentGrpc;
import dev.kelpie.agent.v1.ExecRequest;
import dev.kelpie.agent.v1.ExecResponse;
import dev.kelpie.agent.v1.ExecStart;
import dev.kelpie.agent.v1.OutputStream;
import dev.kelpie.agent.v1.ProcessEvent;
import dev.kelpie.daemon.agent.AgentDialer;
import dev.kelpie.daemon.agent.AgentUnavailableException;
import dev.kelpie.daemon.agent.StreamCollector;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import dev.kelpie.daemon.hypervisor.SavedVmState;
import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.VmHandle;
import dev.kelpie.daemon.hypervisor.VmPlatform;
import dev.kelpie.daemon.hypervisor.VmSpec;
import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import dev.kelpie.daemon.hypervisor.probe.HostPlatform;
import dev.kelpie.daemon.images.BootImage;
import dev.kelpie.daemon.images.LocalImageDirectory;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayOutputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongPredicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Full VM state save and restore on real qemu (TCG, the project's own image): a saved VM runs on with its agent
 * connection, and a VM restored from the files resumes the guest's processes where they were.
 */
class QemuSaveRestoreIT {

    private static final int MEMORY_MIB = 512;
    /** A cold boot under TCG takes seconds; on a shared 2-core host much longer. */
    private static final Duration BOOT_TIMEOUT = Duration.ofSeconds(180);
    private static final Duration RESTORE_DIAL_TIMEOUT = Duration.ofSeconds(120);
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration GROWTH_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration EXIT_TIMEOUT = Duration.ofSeconds(30);
    /** Each poll is an Exec in the guest; a few per second show growth without keeping the guest busy. */
    private static final long POLL_INTERVAL_MS = 300;
    /** Ten more lines is a second of the counter running on its own. */
    private static final long GROWTH_LINES = 10;
    private static final String COUNTER = "/workspace/counter";
    private static final String COUNTER_SCRIPT = "i=0; while true; do echo $i >> " + COUNTER + "; i=$((i+1)); sleep 0.1; done";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static BootImage image;
    private static UnixSocketChannels channels;
    private static AgentDialer dialer;

    @TempDir
    Path dir;

    private final QemuHypervisor hypervisor = new QemuHypervisor(HostPlatform.current().arch(), arch -> "qemu-system-" + arch, () -> Accelerator.TCG, JSON);
    private final List<VmHandle> vms = new ArrayList<>();
    private final List<ManagedChannel> agents = new ArrayList<>();

    @BeforeAll
    static void findImage() {
        String imageDir = System.getProperty("kelpie.it.imageDir", "");
        Assumptions.assumeFalse(imageDir.isBlank(), "no image given (-Dkelpie.imageDir=...; scripts/dev passes it)");
        image = new LocalImageDirectory(List.of(Path.of(imageDir)), JSON).list().getFirst();
        channels = new UnixSocketChannels();
        dialer = new AgentDialer(channels, d -> Thread.sleep(d.toMillis()));
    }

    @AfterAll
    static void closeChannels() {
        if (channels != null) {
            channels.close();
        }
    }

    @AfterEach
    void killEverything() throws Exception {
        for (ManagedChannel agent : agents) {
            agent.shutdownNow();
        }
        for (VmHandle vm : vms) {
            vm.kill();
            vm.exited().get(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    private VmSpec spec(String name) {
        return new VmSpec(name, dir.resolve(name), image, 1, MEMORY_MIB, image.diskTemplateSizeMib());
    }

    private VmHandle track(VmHandle vm) {
        vms.add(vm);
        return vm;
    }

    private ManagedChannel dial(VmHandle vm, Duration deadline) throws InterruptedException {
        try {
            ManagedChannel channel = dialer.dial(vm.record().agentSocket(), deadline);
            agents.add(channel);
            return channel;
        } catch (AgentUnavailableException e) {
            throw new AssertionError(e.getMessage() + "\nconsole:\n" + vm.consoleTail(40), e);
        }
    }

    @Test
    void aSavedVmRunsOnAndItsRestoredCopyResumesTheGuestsProcesses() throws Exception {
        long bootStart = System.nanoTime();
        VmHandle source = track(hypervisor.boot(spec("src")));
        ManagedChannel sourceAgent = dial(source, BOOT_TIMEOUT);
        long coldBootMs = msSince(bootStart);

        // The counter runs detached; its Exec stream stays open through the save, like a client's would.
        StreamCollector<ExecResponse> counterStream = new StreamCollector<>();
        StreamObserver<ExecRequest> counterRequests = AgentGrpc.newStub(sourceAgent).exec(counterStream);
        counterRequests.onNext(ExecRequest.newBuilder().setStart(ExecStart.newBuilder()
                .addAllArgv(List.of("sh", "-c", COUNTER_SCRIPT)).setDetached(true)).build());
        awaitCounter(source, sourceAgent, "the counter to start", v -> v >= 3);
        shell(source, sourceAgent, "echo kelpie-marker > /workspace/marker");
        long counterBeforeSave = counter(source, sourceAgent);

        Path state = Files.createDirectories(dir.resolve("state"));
        long saveStart = System.nanoTime();
        SavedVmState saved = source.saveState(state.resolve("memory"), state.resolve("disk.ext4"));
        long saveMs = msSince(saveStart);

        assertEquals(hypervisor.platform("x86_64"), saved.platform());
        assertTrue(Files.size(saved.memoryFile()) > 0, "memory file written");
        assertTrue(Files.isRegularFile(saved.diskFile()), "disk file written");
        assertFalse(Files.exists(state.resolve("memory.partial")), "no temp file left");
        long memoryBytes = Files.size(saved.memoryFile());
        long diskAllocatedBytes = allocatedBytes(saved.diskFile());

        // The source runs on: same agent connection, the counter grows, and its disk takes writes again (the
        // migration inactivated it; cont must have reactivated it).
        assertTrue(source.isAlive());
        assertEquals("running", new QmpClient(source.record().controlSocket(), JSON).execute("query-status")
                .path("status").asText());
        long sourceAfterSave = counter(source, sourceAgent);
        awaitCounter(source, sourceAgent, "the source's counter to grow after the save",
                v -> v >= sourceAfterSave + GROWTH_LINES);
        shell(source, sourceAgent, "echo written-after-the-save > /workspace/after-save && sync");
        assertFalse(counterStream.isDone(), "the counter's Exec stream survived the save");

        long restoreStart = System.nanoTime();
        VmHandle restored = track(hypervisor.restore(spec("dst"), saved));
        long restoreCallMs = msSince(restoreStart);
        ManagedChannel restoredAgent = dial(restored, RESTORE_DIAL_TIMEOUT);
        long restoreToAgentMs = msSince(restoreStart);

        assertFalse(Files.exists(saved.diskFile()), "the saved disk was moved, not copied");
        assertTrue(Files.isRegularFile(dir.resolve("dst").resolve("rw.ext4")));
        assertEquals("kelpie-marker\n", shell(restored, restoredAgent, "cat /workspace/marker"));
        assertEquals("absent\n", shell(restored, restoredAgent, "cat /workspace/after-save 2>/dev/null || echo absent"),
                "the restored disk is the one of the save's instant, not the source's later one");
        awaitCounter(restored, restoredAgent, "the restored counter to grow past its value at the save",
                v -> v >= counterBeforeSave + GROWTH_LINES);
        // The same process carried on: a restarted loop would have begun again at 0.
        String[] lines = shell(restored, restoredAgent, "cat " + COUNTER).split("\n");
        for (int i = 0; i < lines.length; i++) {
            assertEquals(Integer.toString(i), lines[i], "counter line " + i);
        }
        assertTrue(source.isAlive(), "the source still runs beside its restored copy");

        System.out.printf(Locale.ROOT, "[save/restore %d MiB, 1 vCPU, TCG] cold boot to agent answering: %d ms; "
                + "saveState: %d ms; memory file: %.1f MiB; disk copy: %.1f MiB allocated of %d MiB; restore(): %d ms; "
                + "restore to agent answering: %d ms%n", MEMORY_MIB, coldBootMs, saveMs, memoryBytes / 1048576.0,
                diskAllocatedBytes / 1048576.0, image.diskTemplateSizeMib(), restoreCallMs, restoreToAgentMs);
        counterRequests.onCompleted();
    }

    @Test
    void savingAKilledVmFailsAndLeavesNoFiles() throws Exception {
        VmHandle vm = track(hypervisor.boot(spec("dead")));
        vm.kill();
        vm.exited().get(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        Path memory = dir.resolve("memory");
        Path disk = dir.resolve("disk.ext4");

        VmException e = assertThrows(VmException.class, () -> vm.saveState(memory, disk));

        assertTrue(e.getMessage().contains("its qemu process is gone"), e.getMessage());
        assertFalse(Files.exists(memory));
        assertFalse(Files.exists(disk));
        assertFalse(Files.exists(dir.resolve("memory.partial")));
    }

    @Test
    void aSaveThatCannotWriteFailsCleanlyAndTheVmRunsOn() throws Exception {
        VmHandle vm = track(hypervisor.boot(spec("busy")));
        Path memory = dir.resolve("no-such-dir").resolve("memory");
        Path disk = dir.resolve("disk.ext4");

        VmException e = assertThrows(VmException.class, () -> vm.saveState(memory, disk));

        assertTrue(e.getMessage().contains("the migration failed"), e.getMessage());
        assertFalse(Files.exists(disk));
        assertTrue(vm.isAlive());
        assertEquals("running", new QmpClient(vm.record().controlSocket(), JSON).execute("query-status")
                .path("status").asText());
    }

    @Test
    void aPausedVmStaysPausedAndIsSavedAgainOnlyAfterItRan() throws Exception {
        VmHandle vm = track(hypervisor.boot(spec("paused")));
        QmpClient qmp = new QmpClient(vm.record().controlSocket(), JSON);
        vm.pause();
        Path state = Files.createDirectories(dir.resolve("state"));

        vm.saveState(state.resolve("memory-1"), state.resolve("disk-1.ext4"));
        assertEquals("postmigrate", qmp.execute("query-status").path("status").asText());
        VmException again = assertThrows(VmException.class,
                () -> vm.saveState(state.resolve("memory-2"), state.resolve("disk-2.ext4")));
        assertTrue(again.getMessage().contains("resume it before saving or forking it again"), again.getMessage());
        assertFalse(Files.exists(state.resolve("memory-2")));
        assertFalse(Files.exists(state.resolve("disk-2.ext4")));

        vm.resume();
        assertEquals("running", qmp.execute("query-status").path("status").asText());
        vm.saveState(state.resolve("memory-3"), state.resolve("disk-3.ext4"));
        assertEquals("running", qmp.execute("query-status").path("status").asText());
    }

    @Test
    void restoringFromATruncatedMemoryFileFailsAndLeavesNoQemu() throws Exception {
        VmHandle source = track(hypervisor.boot(spec("src")));
        Path state = Files.createDirectories(dir.resolve("state"));
        // Saved while the guest still boots: any instant is a valid state.
        SavedVmState saved = source.saveState(state.resolve("memory"), state.resolve("disk.ext4"));
        try (FileChannel memory = FileChannel.open(saved.memoryFile(), StandardOpenOption.WRITE)) {
            memory.truncate(memory.size() / 2);
        }

        VmException e = assertThrows(VmException.class, () -> hypervisor.restore(spec("dst"), saved));

        assertTrue(e.getMessage().contains(saved.memoryFile().toString()), e.getMessage());
        // qemu's own reason, which it can only report through its -D log once daemonized.
        assertTrue(e.getMessage().contains("load of migration failed"), e.getMessage());
        String runtimeDir = dir.resolve("dst").toString();
        assertTrue(ProcessHandle.allProcesses().noneMatch(p -> p.info().commandLine().orElse("").contains(runtimeDir)),
                "no qemu left running for " + runtimeDir);
    }

    @Test
    void aStateFromAnotherPlatformIsRefusedBeforeAnythingStarts() throws Exception {
        VmPlatform here = hypervisor.platform("x86_64");
        VmPlatform older = new VmPlatform(here.hypervisor(), "6.2.0", here.machineType(), here.cpuModel(), here.arch());
        Path disk = Files.writeString(dir.resolve("disk.ext4"), "");
        SavedVmState foreign = new SavedVmState(dir.resolve("memory"), disk, older);

        VmException e = assertThrows(VmException.class, () -> hypervisor.restore(spec("dst"), foreign));

        assertTrue(e.getMessage().contains("qemu 6.2.0") && e.getMessage().contains(here.describeHypervisor()),
                e.getMessage());
        assertTrue(Files.exists(disk), "the state's disk stays where it was");
        assertFalse(Files.exists(dir.resolve("dst")));
    }

    /** Runs {@code script} under sh in the guest; it must exit 0. Returns its stdout. */
    private static String shell(VmHandle vm, ManagedChannel agent, String script) throws Exception {
        StreamCollector<ExecResponse> events = new StreamCollector<>();
        StreamObserver<ExecRequest> requests = AgentGrpc.newStub(agent)
                .withDeadlineAfter(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).exec(events);
        requests.onNext(ExecRequest.newBuilder().setStart(ExecStart.newBuilder().addAllArgv(List.of("sh", "-c", script)))
                .build());
        StreamCollector.Outcome<ExecResponse> outcome;
        try {
            outcome = events.await(CALL_TIMEOUT.plusSeconds(5));
        } catch (TimeoutException e) {
            throw new AssertionError(script + ": no answer within " + CALL_TIMEOUT.toSeconds() + " s (events so far "
                    + events.messages() + ")\n" + diagnostics(vm), e);
        }
        requests.onCompleted();
        assertEquals(Status.Code.OK, outcome.status().getCode(), () -> script + ": " + outcome.status() + "\n"
                + diagnostics(vm));
        List<ProcessEvent> processEvents = outcome.messages().stream().map(ExecResponse::getEvent).toList();
        ProcessEvent last = processEvents.getLast();
        assertTrue(last.hasExited() && last.getExited().getExitCode() == 0, script + " ended with " + last + ", stderr: "
                + output(processEvents, OutputStream.OUTPUT_STREAM_STDERR));
        return output(processEvents, OutputStream.OUTPUT_STREAM_STDOUT);
    }

    private static String diagnostics(VmHandle vm) {
        String status;
        try {
            status = new QmpClient(vm.record().controlSocket(), JSON).execute("query-status").toString();
        } catch (VmException e) {
            status = e.getMessage();
        }
        return vm.describe() + " alive " + vm.isAlive() + ", status " + status + "\nconsole:\n" + vm.consoleTail(30);
    }

    private static String output(List<ProcessEvent> events, OutputStream stream) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        events.stream().filter(ProcessEvent::hasOutput).map(ProcessEvent::getOutput)
                .filter(o -> o.getStream() == stream).forEach(o -> out.writeBytes(o.getData().toByteArray()));
        return out.toString(StandardCharsets.UTF_8);
    }

    /** The counter's last value, or -1 before it wrote one. */
    private static long counter(VmHandle vm, ManagedChannel agent) throws Exception {
        String last = shell(vm, agent, "tail -n 1 " + COUNTER + " 2>/dev/null || true").strip();
        return last.isEmpty() ? -1 : Long.parseLong(last);
    }

    private static void awaitCounter(VmHandle vm, ManagedChannel agent, String what, LongPredicate done)
            throws Exception {
        await(what, GROWTH_TIMEOUT, () -> counter(vm, agent), done);
    }

    private static void await(String what, Duration timeout, Callable<Long> value, LongPredicate done) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        long last = value.call();
        while (!done.test(last)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout.toSeconds() + " s waiting for " + what
                        + " (last value " + last + ")");
            }
            Thread.sleep(POLL_INTERVAL_MS);
            last = value.call();
        }
    }

    /** Bytes the file occupies on disk, holes excluded: what a sparse copy really costs. */
    private static long allocatedBytes(Path file) throws Exception {
        Process du = new ProcessBuilder("du", "--block-size=1", file.toString()).redirectErrorStream(true).start();
        String out = new String(du.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(du.waitFor(30, TimeUnit.SECONDS) && du.exitValue() == 0, "du: " + out);
        return Long.parseLong(out.split("\\s+")[0]);
    }

    private static long msSince(long startNanos) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
    }
}
