package dev.kelpie.daemon.hypervisor;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Optional;

/**
 * A process named by pid and start time. A pid alone is not an identity: after a reboot or a wrap-around it may name
 * an unrelated process, which the daemon must never signal.
 *
 * <p>The start is compared as the kernel counts it where it can be: on Linux, clock ticks since boot
 * ({@code /proc/PID/stat} field 22) with the boot's id, which no wall-clock step moves. The JDK's start instant is
 * boot time plus those ticks, and the boot time it reads shifts with every NTP step, so a daemon restarted after one
 * would take its own VMs for strangers. Elsewhere (macOS records the wall-clock start at fork, and a step does not
 * rewrite it) and for records of older daemons, the start instant is compared within {@link #START_TOLERANCE_MS}.
 *
 * @param bootStart {@code BOOT_ID/TICKS} on Linux, empty where the platform has no boot-relative start
 */
public record ProcessIdentity(long pid, long startMillis, String bootStart) {

    /** The JDK's start instant is rounded differently by platform; a reused pid starts seconds apart at the least. */
    static final long START_TOLERANCE_MS = 1_000;
    private static final Path BOOT_ID = Path.of("/proc/sys/kernel/random/boot_id");
    /** Field 22 of /proc/PID/stat, counted after the parenthesised command (which may hold spaces). */
    private static final int STARTTIME_FIELD_AFTER_COMM = 20;

    public ProcessIdentity {
        bootStart = bootStart == null ? "" : bootStart;
    }

    /** The live process with this pid, if any, with its start as the OS reports it now. */
    public static Optional<ProcessIdentity> of(long pid) {
        return ProcessHandle.of(pid).filter(ProcessHandle::isAlive)
                .flatMap(h -> h.info().startInstant().map(start -> new ProcessIdentity(pid, start.toEpochMilli(),
                        bootStart(pid).orElse(""))));
    }

    /** The process this identity names, if it still runs. */
    public Optional<ProcessHandle> live() {
        return ProcessHandle.of(pid).filter(ProcessHandle::isAlive).filter(this::sameStart);
    }

    private boolean sameStart(ProcessHandle handle) {
        if (!bootStart.isEmpty()) {
            Optional<String> now = bootStart(pid);
            if (now.isPresent()) {
                return now.get().equals(bootStart);
            }
        }
        return handle.info().startInstant().map(Instant::toEpochMilli)
                .map(s -> Math.abs(s - startMillis) <= START_TOLERANCE_MS).orElse(false);
    }

    /** {@code BOOT_ID/TICKS} of a Linux process, or empty elsewhere (or when it is gone). */
    static Optional<String> bootStart(long pid) {
        try {
            String bootId = Files.readString(BOOT_ID, StandardCharsets.US_ASCII).strip();
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.US_ASCII);
            String[] afterComm = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Optional.of(bootId + "/" + Long.parseLong(afterComm[STARTTIME_FIELD_AFTER_COMM - 1]));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }
}
