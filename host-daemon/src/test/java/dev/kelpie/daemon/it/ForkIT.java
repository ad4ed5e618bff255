package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.api.v1.DeletePackageRequest;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.ForkSandboxRequest;
import dev.kelpie.api.v1.ForkSandboxResponse;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.PauseSandboxRequest;
import dev.kelpie.api.v1.RestoreRequest;
import dev.kelpie.api.v1.ResumeSandboxRequest;
import dev.kelpie.api.v1.SandboxState;
import dev.kelpie.api.v1.SnapshotKind;
import dev.kelpie.api.v1.SnapshotRequest;
import dev.kelpie.daemon.agent.StreamCollector;
import dev.kelpie.daemon.hypervisor.probe.HostPlatform;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fork over the packaged daemon with real QEMU (TCG) VMs: copies of a sandbox running a counter continue from the fork
 * and diverge, each with its own files, generation, entropy and hostname; deleting the source breaks none; a daemon
 * killed mid-fork leaves no orphan qemu, no half-made sandbox and no RAM file without an owner; a vm package's memory
 * is frozen by its first restore and mapped by the next, until the package goes. Guest RAM lives in a
 * tmpfs directory of the test's own, so its files can be counted.
 */
class ForkIT {

    private static final Duration COUNTER_TIMEOUT = Duration.ofSeconds(30);
    private static final boolean QEMU_SHARES_FROZEN_RAM = qemuSharesFrozenRam();
    /** What QEMU >= 8.2 logs when a guest's balloon reports free pages of RAM mapped from a read-only file. */
    private static final String READ_ONLY_DISCARD_REFUSED = "Discarding RAM with readonly files is not supported";
    private static final String COUNTER = "echo $$ > /workspace/counter.pid; i=0; while true; do i=$((i+1));"
            + " echo $i > /workspace/counter; sleep 0.1; done";

    @TempDir
    static Path work;
    static Path ramDir;
    static String[] args;

    @BeforeAll
    static void start() throws IOException {
        String imageDir = System.getProperty("kelpie.it.imageDir", "");
        Assumptions.assumeFalse(imageDir.isBlank(), "no image given (-Dkelpie.imageDir=...; scripts/dev passes it)");
        ramDir = Path.of("/dev/shm", "kelpie-fork-it-" + UUID.randomUUID());
        List<String> all = new ArrayList<>(List.of(SandboxesIT.daemonArgs(imageDir)));
        all.add("-Dkelpie.qemu.ram-dir=" + ramDir);
        args = all.toArray(String[]::new);
    }

    @AfterAll
    static void cleanUp() throws IOException {
        if (work != null) {
            Leftovers.killQemusNaming(work);
        }
        if (ramDir != null && Files.isDirectory(ramDir)) {
            try (Stream<Path> files = Files.list(ramDir)) {
                for (Path f : files.toList()) {
                    Files.deleteIfExists(f);
                }
            }
            Files.deleteIfExists(ramDir);
        }
    }

    @Test
    void copiesContinueFromTheForkDivergeAndOutliveTheirSource() throws Exception {
        try (DaemonProcess daemon = DaemonProcess.startServing(work, "fork", args);
                SandboxClient client = new SandboxClient(daemon.socket)) {
            String source = client.create(SandboxSpec.getDefaultInstance()).getId();
            String sum = client.sh(source, "head -c 67108864 /dev/urandom > /workspace/big && md5sum /workspace/big");
            client.start(source, SandboxesIT.sh(COUNTER));
            awaitCounterAbove(client, source, 5);
            long atFork = counter(client, source);

            ForkSandboxResponse forked = client.sandboxes().fork(ForkSandboxRequest.newBuilder().setId(source)
                    .setCount(3).putLabels("copy", "yes").build());

            List<String> copies = forked.getSandboxesList().stream().map(Sandbox::getId).toList();
            assertEquals(3, copies.size());
            assertEquals(SandboxState.SANDBOX_STATE_READY, client.get(source).getState(), "the source runs on");
            Set<String> generations = new HashSet<>();
            Set<String> randoms = new HashSet<>();
            for (String copy : copies) {
                Sandbox s = client.get(copy);
                assertEquals(SandboxState.SANDBOX_STATE_READY, s.getState());
                assertEquals("yes", s.getSpec().getLabelsMap().get("copy"));
                long first = counter(client, copy);
                assertTrue(first >= atFork, "copy " + copy + " counts on from the fork (" + atFork + "), not anew: " + first);
                awaitCounterAbove(client, copy, first);
                assertEquals(copy, client.sh(copy, "hostname").strip());
                generations.add(client.sh(copy, "cat /run/kelpie/generation").strip());
                randoms.add(client.sh(copy, "head -c 16 /dev/urandom | od -An -tx1").strip());
                client.sh(copy, "echo " + copy + " > /workspace/mine");
            }
            // A sandbox that was never restored has no generation yet.
            generations.add(client.sh(source, "cat /run/kelpie/generation 2>/dev/null || echo none").strip());
            assertEquals(4, generations.size(), "every copy has its own generation, none the source's: " + generations);
            assertEquals(3, randoms.size(), "no two copies draw the same random bytes: " + randoms);
            for (String copy : copies) {
                assertEquals(copy, client.sh(copy, "cat /workspace/mine").strip(), "files written after the fork are private");
            }
            assertEquals("none", client.sh(source, "cat /workspace/mine 2>/dev/null || echo none").strip());

            // Every copy sees the source's page cache; reading it maps the frozen pages into each copy's qemu.
            for (String copy : copies) {
                assertEquals(sum, client.sh(copy, "md5sum /workspace/big"), "copy " + copy + " has the source's memory");
            }
            String copyCommandLine = Files.readString(Path.of("/proc", qemuPid(daemon, copies.get(1)), "cmdline"));
            assertEquals(QEMU_SHARES_FROZEN_RAM, copyCommandLine.contains("share=off,readonly=on,rom=off"),
                    "a copy maps the frozen file read-only exactly where qemu can: " + copyCommandLine.replace('\0', ' '));
            if (QEMU_SHARES_FROZEN_RAM) {
                // QEMU >= 8.2 maps the frozen file read-only and private: pages no copy wrote are one set in the host.
                long sharedKib = smapsKib(daemon, copies.get(1), "RssShmem") - smapsKib(daemon, copies.get(1), "Pss_Shmem");
                assertTrue(sharedKib >= 32 * 1024, "the copies share the frozen pages they read: only " + sharedKib
                        + " KiB of copy " + copies.get(1) + "'s shmem is shared");
            }
            // A copy that frees memory reports it (balloon free-page reporting) and qemu discards it; its siblings'
            // memory must not change with it. QEMU 7.2 punches a discarded range out of the RAM file even through a
            // private mapping, which on a file the copies shared zeroed the page cache under every sibling. A copy that
            // owns its file gives the memory back; one mapping the shared file read-only has its discards refused.
            long before = smapsKib(daemon, copies.get(0), "Rss");
            client.sh(copies.get(0), "sync; echo 3 > /proc/sys/vm/drop_caches");
            Path copyLog = daemon.stateDir.resolve("vms").resolve(copies.get(0)).resolve("qemu.log");
            Await.until("qemu of copy " + copies.get(0) + " to act on the freed page cache", Duration.ofSeconds(30),
                    () -> QEMU_SHARES_FROZEN_RAM ? readQuietly(copyLog).contains(READ_ONLY_DISCARD_REFUSED)
                            : smapsKib(daemon, copies.get(0), "Rss") < before - 32 * 1024);
            assertEquals(sum, client.sh(copies.get(1), "md5sum /workspace/big"), "a sibling's memory is its own");
            assertEquals(sum, client.sh(source, "md5sum /workspace/big"), "the source's memory is its own");

            // Diverge: the first copy's counter stops, the others count on.
            client.sh(copies.get(0), "kill $(cat /workspace/counter.pid)");
            long stopped = counter(client, copies.get(0));
            long other = counter(client, copies.get(1));
            awaitCounterAbove(client, copies.get(1), other + 5);
            assertTrue(counter(client, copies.get(0)) <= stopped + 1, "a copy's processes are its own");

            // A paused source is frozen already: it is forked as it is and stays paused.
            long beforePause = counter(client, source);
            client.sandboxes().pause(PauseSandboxRequest.newBuilder().setId(source).build());
            String ofPaused = client.sandboxes().fork(ForkSandboxRequest.newBuilder().setId(source).setCount(1).build())
                    .getSandboxes(0).getId();
            long copied = counter(client, ofPaused);
            assertTrue(copied >= beforePause, "the copy of the paused source counts on from " + beforePause + ": " + copied);
            awaitCounterAbove(client, ofPaused, copied);
            assertEquals(SandboxState.SANDBOX_STATE_PAUSED, client.get(source).getState(), "the source stays paused");
            // QEMU saves a paused VM once (it is left in postmigrate): a second fork before a resume is refused.
            StatusRuntimeException again = assertThrows(StatusRuntimeException.class, () -> client.sandboxes().fork(
                    ForkSandboxRequest.newBuilder().setId(source).setCount(1).build()));
            assertEquals(Status.Code.FAILED_PRECONDITION, again.getStatus().getCode(), again.getMessage());
            assertTrue(again.getStatus().getDescription().contains("resume it before saving or forking it again"),
                    again.getMessage());
            client.sandboxes().resume(ResumeSandboxRequest.newBuilder().setId(source).build());
            awaitCounterAbove(client, source, counter(client, source));
            client.sandboxes().delete(DeleteSandboxRequest.newBuilder().setId(ofPaused).build());

            client.sandboxes().delete(DeleteSandboxRequest.newBuilder().setId(source).build());
            assertFalse(Files.exists(ramDir.resolve(source + ".ram")), "the source's RAM file went with it");
            for (String copy : copies.subList(1, 3)) {
                long now = counter(client, copy);
                awaitCounterAbove(client, copy, now);
            }
            assertEquals(new TreeSet<>(copies), ramFileOwners(), "one RAM file per copy, no snapshot left");

            client.deleteAll();
            assertEquals(Set.of(), ramFileOwners(), "deleting the copies freed the last links");
            Leftovers.assertOnlyLiveSandboxes(work, daemon, client.list());
        }
    }

    @Test
    void aDaemonKilledMidForkLeavesNoOrphanQemuNoHalfMadeSandboxAndNoOwnerlessRam() throws Exception {
        DaemonProcess first = DaemonProcess.startServing(work, "drill", args);
        Path vms = first.stateDir.resolve("vms");
        String source;
        try (SandboxClient client = new SandboxClient(first.socket)) {
            source = client.create(SandboxSpec.getDefaultInstance()).getId();
            client.sh(source, "echo before > /workspace/note");
            StreamCollector<ForkSandboxResponse> fork = new StreamCollector<>();
            dev.kelpie.api.v1.SandboxesGrpc.newStub(client.channel).fork(ForkSandboxRequest.newBuilder().setId(source)
                    .setCount(3).build(), fork);
            // Kill once the first copy is being made: the frozen snapshot exists and some copies do not.
            Await.until("the fork's first copy to start", Duration.ofSeconds(60), () -> childCount(vms) >= 3);
            first.kill9();
        }
        try (DaemonProcess second = first.startSuccessor(work.resolve("drill/second.log"), args);
                SandboxClient client = new SandboxClient(second.socket)) {
            List<Sandbox> listed = client.list();
            assertTrue(listed.stream().noneMatch(s -> s.getState() == SandboxState.SANDBOX_STATE_CREATING),
                    "no sandbox is left half made: " + listed);
            assertEquals(SandboxState.SANDBOX_STATE_READY, client.get(source).getState());
            assertEquals("before", client.sh(source, "cat /workspace/note").strip(), "the source runs on");
            Set<String> holdingVms = listed.stream().filter(s -> s.getState() == SandboxState.SANDBOX_STATE_READY)
                    .map(Sandbox::getId).collect(Collectors.toCollection(TreeSet::new));
            assertEquals(holdingVms, ramFileOwners(), "a RAM file only for sandboxes that hold a VM");
            Leftovers.assertOnlyLiveSandboxes(work, second, listed);
            client.deleteAll();
            assertEquals(Set.of(), ramFileOwners());
            Leftovers.assertOnlyLiveSandboxes(work, second, client.list());
        }
    }

    @Test
    void aVmPackageIsFrozenOnceAndEveryLaterRestoreMapsItUntilThePackageGoes() throws Exception {
        try (DaemonProcess daemon = DaemonProcess.startServing(work, "lazy", args);
                SandboxClient client = new SandboxClient(daemon.socket)) {
            String source = client.create(SandboxSpec.getDefaultInstance()).getId();
            client.sh(source, "echo kept > /workspace/note");
            String pkg = client.sandboxes().snapshot(SnapshotRequest.newBuilder().setSandboxId(source)
                    .setKind(SnapshotKind.SNAPSHOT_KIND_VM).setStopAfter(true).build()).getPackage().getId();

            List<String> restored = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                restored.add(client.sandboxes().restore(RestoreRequest.newBuilder().setPackageId(pkg).build())
                        .getSandbox().getId());
                Set<String> frozen = frozenPackageMemory();
                assertEquals(1, frozen.size(), "one frozen copy of the package's memory, made by the first restore: "
                        + frozen);
            }
            for (String id : restored) {
                assertEquals("kept", client.sh(id, "cat /workspace/note").strip());
                assertEquals(id, client.sh(id, "hostname").strip());
            }
            assertNotEquals(client.sh(restored.get(0), "cat /run/kelpie/generation"),
                    client.sh(restored.get(1), "cat /run/kelpie/generation"));

            client.packages().delete(DeletePackageRequest.newBuilder().setId(pkg).build());
            assertEquals(Set.of(), frozenPackageMemory(), "the frozen memory went with its package");
            for (String id : restored) {
                assertEquals("kept", client.sh(id, "cat /workspace/note").strip(), "restored sandboxes keep their link");
            }
            client.deleteAll();
            assertEquals(Set.of(), ramFileOwners());
            Leftovers.assertOnlyLiveSandboxes(work, daemon, client.list());
        }
    }

    /** What a VM's RAM file holds on the host. */
    /** A memory figure of a sandbox's qemu in KiB, from its smaps_rollup ({@code Rss}, {@code Pss_Shmem}) or status ({@code RssShmem}). */
    private static long smapsKib(DaemonProcess daemon, String id, String field) {
        try {
            String pid = qemuPid(daemon, id);
            for (String file : List.of("smaps_rollup", "status")) {
                for (String line : Files.readAllLines(Path.of("/proc", pid, file))) {
                    if (line.startsWith(field + ":")) {
                        return Long.parseLong(line.replaceAll("[^0-9]", ""));
                    }
                }
            }
            throw new AssertionError("no " + field + " for qemu " + pid);
        } catch (IOException e) {
            throw new AssertionError("cannot read the memory of " + id + "'s qemu: " + e.getMessage(), e);
        }
    }

    private static String qemuPid(DaemonProcess daemon, String id) throws IOException {
        return Files.readString(daemon.stateDir.resolve("vms").resolve(id).resolve("qemu.pid")).strip();
    }

    private static String readQuietly(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            return "";
        }
    }

    /** Whether the qemu on PATH can map a frozen RAM file read-only and private (QEMU >= 8.2), as the daemon asks. */
    private static boolean qemuSharesFrozenRam() {
        try {
            Process help = new ProcessBuilder("qemu-system-" + HostPlatform.current().arch(), "-object", "memory-backend-file,help")
                    .redirectErrorStream(true).start();
            String out = new String(help.getInputStream().readAllBytes());
            return help.waitFor() == 0 && out.contains("rom=");
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    /** The package memory files ({@code pkg-SHA.ram} and {@code .state}) in the RAM directory. */
    private static Set<String> frozenPackageMemory() throws IOException {
        try (Stream<Path> files = Files.exists(ramDir) ? Files.list(ramDir) : Stream.empty()) {
            return files.map(f -> f.getFileName().toString()).filter(n -> n.startsWith("pkg-"))
                    .map(n -> n.substring(0, n.lastIndexOf('.'))).collect(Collectors.toCollection(TreeSet::new));
        }
    }

    private static long counter(SandboxClient client, String id) throws Exception {
        return Long.parseLong(client.sh(id, "cat /workspace/counter").strip());
    }

    private static void awaitCounterAbove(SandboxClient client, String id, long floor) {
        Await.until("the counter of " + id + " to pass " + floor, COUNTER_TIMEOUT, () -> {
            try {
                return counter(client, id) > floor;
            } catch (Exception | AssertionError e) {
                return false; // the counter has not written its first value yet
            }
        });
    }

    private static int childCount(Path dir) {
        try (Stream<Path> children = Files.exists(dir) ? Files.list(dir) : Stream.empty()) {
            return (int) children.count();
        } catch (IOException e) {
            return 0;
        }
    }

    /** The sandbox ids the RAM directory holds files for; anything else there (a snapshot, a partial copy) fails. */
    private static Set<String> ramFileOwners() throws IOException {
        Set<String> owners = new TreeSet<>();
        try (Stream<Path> files = Files.exists(ramDir) ? Files.list(ramDir) : Stream.empty()) {
            for (Path f : files.toList()) {
                String name = f.getFileName().toString();
                if (name.startsWith("pkg-")) {
                    continue; // a package's frozen memory, owned by the package
                }
                assertTrue(name.endsWith(".ram") && !name.startsWith("fork-"), "an owner-less file in the RAM dir: " + name);
                owners.add(name.substring(0, name.length() - ".ram".length()));
            }
        }
        return owners;
    }
}
