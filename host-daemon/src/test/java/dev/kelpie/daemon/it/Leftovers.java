package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxState;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * What may remain on the host while a daemon serves: one qemu per sandbox that holds a VM and no other process naming
 * the test's directory, one runtime directory per such sandbox (the only place sockets live), and no temporary file
 * or staging entry. The fault drills check this after every fault, so whatever a crash left behind shows up here.
 */
final class Leftovers {

    /** Names a file has only while a write is in progress (records, probe cache, image files, vm state saves). */
    private static final List<String> TEMPORARY_SUFFIXES = List.of(".tmp", ".partial");
    /** Scratch directories under the state directory that are empty whenever no operation runs. */
    private static final List<String> SCRATCH_DIRS = List.of("teleport-staging", "images/staging", "images/downloads",
            "packages/.staging");

    private Leftovers() {}

    /** Every qemu whose command line names {@code dir}: the test's VMs, whichever daemon started them. */
    static List<ProcessHandle> qemusNaming(Path dir) {
        return ProcessHandle.allProcesses().filter(p -> p.info().commandLine()
                .map(c -> c.contains(dir.toString()) && c.contains("qemu-system")).orElse(false)).toList();
    }

    /** Kills every qemu naming {@code dir}: VMs outlive daemons by design, and a failed test must not leave them. */
    static void killQemusNaming(Path dir) {
        qemusNaming(dir).forEach(ProcessHandle::destroyForcibly);
    }

    /** Every process but this JVM and {@code except} whose command line names {@code dir}, as "PID COMMAND LINE". */
    static Set<String> processesNaming(Path dir, Set<Long> except) {
        long self = ProcessHandle.current().pid();
        return ProcessHandle.allProcesses().filter(p -> p.pid() != self && !except.contains(p.pid()))
                .filter(p -> p.info().commandLine().map(c -> c.contains(dir.toString())).orElse(false))
                .map(p -> p.pid() + " " + p.info().commandLine().orElse("?"))
                .collect(Collectors.toCollection(TreeSet::new));
    }

    /**
     * Kills every process but this JVM naming {@code dir}: VMs and libkrun's runners (with their QEMU and socat under
     * the double) outlive daemons by design, and a failed test must not leave them.
     */
    static void killProcessesNaming(Path dir) {
        long self = ProcessHandle.current().pid();
        ProcessHandle.allProcesses().filter(p -> p.pid() != self && p.info().commandLine()
                .map(c -> c.contains(dir.toString())).orElse(false)).forEach(ProcessHandle::destroyForcibly);
    }

    /**
     * Asserts that the host holds exactly what {@code daemon}'s sandboxes need, after its startup probe finished.
     *
     * @param work the test's directory: every process naming it must be the daemon or a VM of a live sandbox
     */
    static void assertOnlyLiveSandboxes(Path work, DaemonProcess daemon, List<Sandbox> listed) throws IOException {
        Probes.awaitBackend(daemon, "qemu");
        Set<String> live = listed.stream().filter(s -> s.getState() == SandboxState.SANDBOX_STATE_READY
                || s.getState() == SandboxState.SANDBOX_STATE_PAUSED).map(Sandbox::getId)
                .collect(Collectors.toCollection(TreeSet::new));
        Path vms = daemon.stateDir.resolve("vms");

        assertEquals(live, childNames(vms), "one runtime directory per sandbox holding a VM, none for others");
        Set<Long> recordedPids = new TreeSet<>();
        for (String id : live) {
            recordedPids.add(Long.parseLong(Files.readString(vms.resolve(id).resolve("qemu.pid")).strip()));
        }
        long daemonPid = daemon.process.pid();
        Set<String> strays = ProcessHandle.allProcesses().filter(p -> p.pid() != daemonPid
                && !recordedPids.contains(p.pid()) && p.info().commandLine().map(c -> c.contains(work.toString()))
                .orElse(false)).map(p -> p.pid() + " " + p.info().commandLine().orElse("?"))
                .collect(Collectors.toCollection(TreeSet::new));
        assertEquals(Set.of(), strays, "processes naming " + work + " other than the daemon and its sandboxes' VMs");
        assertEquals(recordedPids, qemusNaming(work).stream().map(ProcessHandle::pid)
                .collect(Collectors.toCollection(TreeSet::new)), "exactly the recorded qemu of each live sandbox runs");

        try (Stream<Path> files = Files.walk(daemon.stateDir)) {
            List<String> misplaced = files.filter(f -> isSocket(f) ? !isUnderLiveRuntimeDir(f, vms, live)
                    : TEMPORARY_SUFFIXES.stream().anyMatch(f.getFileName().toString()::endsWith))
                    .map(Path::toString).toList();
            assertEquals(List.of(), misplaced, "sockets outside live runtime directories, or temporary files");
        }
        for (String scratch : SCRATCH_DIRS) {
            assertEquals(Set.of(), childNames(daemon.stateDir.resolve(scratch)), scratch + " is empty between operations");
        }
    }

    /** The entries of {@code dir}, or none when it does not exist. */
    static Set<String> childNames(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return Set.of();
        }
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
    }

    private static boolean isSocket(Path file) {
        try {
            return Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).isOther();
        } catch (IOException e) {
            return false; // gone while walking: not left behind
        }
    }

    private static boolean isUnderLiveRuntimeDir(Path file, Path vms, Set<String> live) {
        return file.startsWith(vms) && file.getNameCount() > vms.getNameCount()
                && live.contains(file.getName(vms.getNameCount()).toString());
    }
}
