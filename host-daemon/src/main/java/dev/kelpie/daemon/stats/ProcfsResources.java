package dev.kelpie.daemon.stats;

import dev.kelpie.daemon.hypervisor.ProcessIdentity;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalLong;

/**
 * Linux: a VM process's CPU time from {@code /proc/PID/stat}, its RSS and PSS from {@code /proc/PID/smaps_rollup}
 * (Linux 4.14+; older kernels or a process of another user leave RSS from {@code statm} and no PSS).
 */
final class ProcfsResources implements HostResources {

    /**
     * USER_HZ, the unit of the CPU times in /proc/PID/stat: 100 on every Linux architecture the daemon runs on (the
     * kernel fixes it for user space whatever CONFIG_HZ is).
     */
    static final int CLOCK_TICKS_PER_SECOND = 100;
    /** statm counts pages; 4 KiB on x86_64 and on the aarch64 kernels the daemon supports. */
    private static final long PAGE_BYTES = 4096;
    /** Fields after the parenthesised command (which may hold spaces and parentheses), counted from 0 there. */
    private static final int UTIME_AFTER_COMM = 11;
    private static final int STIME_AFTER_COMM = 12;
    private static final int STARTTIME_AFTER_COMM = 19;
    private static final long KIB_BYTES = 1024;

    /** What /proc/PID/stat says of a process. */
    record Stat(long cpuTicks, long startTicks) {
        double cpuSeconds() {
            return (double) cpuTicks / CLOCK_TICKS_PER_SECOND;
        }
    }

    /** Rss and Pss of smaps_rollup, in bytes; Pss empty when the file has none. */
    record Rollup(long rssBytes, OptionalLong pssBytes) {}

    @Override
    public Optional<ProcessSample> process(ProcessIdentity process) {
        Path dir = Path.of("/proc", Long.toString(process.pid()));
        try {
            Stat stat = parseStat(Files.readString(dir.resolve("stat"), StandardCharsets.US_ASCII));
            if (!sameProcess(process, stat)) {
                return Optional.empty();
            }
            Rollup memory = readRollup(dir);
            return Optional.of(new ProcessSample(stat.cpuSeconds(), memory.rssBytes(), memory.pssBytes()));
        } catch (IOException | RuntimeException e) {
            return Optional.empty(); // gone between the reads, or not readable: no figures rather than wrong ones
        }
    }

    @Override
    public OptionalDouble cpuSeconds(ProcessIdentity process) {
        try {
            Stat stat = parseStat(Files.readString(Path.of("/proc", Long.toString(process.pid()), "stat"),
                    StandardCharsets.US_ASCII));
            return sameProcess(process, stat) ? OptionalDouble.of(stat.cpuSeconds()) : OptionalDouble.empty();
        } catch (IOException | RuntimeException e) {
            return OptionalDouble.empty();
        }
    }

    /** A pid reused by another process must not lend the VM its figures. */
    private static boolean sameProcess(ProcessIdentity process, Stat stat) {
        String bootStart = process.bootStart();
        int slash = bootStart.lastIndexOf('/');
        return slash < 0 || bootStart.substring(slash + 1).equals(Long.toString(stat.startTicks()));
    }

    private static Rollup readRollup(Path dir) throws IOException {
        try {
            return parseSmapsRollup(Files.readString(dir.resolve("smaps_rollup"), StandardCharsets.US_ASCII));
        } catch (IOException e) {
            String[] statm = Files.readString(dir.resolve("statm"), StandardCharsets.US_ASCII).strip().split(" ");
            return new Rollup(Long.parseLong(statm[1]) * PAGE_BYTES, OptionalLong.empty());
        }
    }

    static Stat parseStat(String text) {
        String[] afterComm = text.substring(text.lastIndexOf(')') + 2).strip().split(" ");
        long cpu = Long.parseLong(afterComm[UTIME_AFTER_COMM]) + Long.parseLong(afterComm[STIME_AFTER_COMM]);
        return new Stat(cpu, Long.parseLong(afterComm[STARTTIME_AFTER_COMM]));
    }

    static Rollup parseSmapsRollup(String text) {
        long rss = -1;
        OptionalLong pss = OptionalLong.empty();
        for (String line : text.split("\n")) {
            String[] parts = line.strip().split("\\s+");
            if (parts.length >= 2 && parts[0].equals("Rss:")) {
                rss = Long.parseLong(parts[1]) * KIB_BYTES;
            } else if (parts.length >= 2 && parts[0].equals("Pss:")) {
                pss = OptionalLong.of(Long.parseLong(parts[1]) * KIB_BYTES);
            }
        }
        if (rss < 0) {
            throw new IllegalArgumentException("smaps_rollup has no Rss line");
        }
        return new Rollup(rss, pss);
    }

    @Override
    public OptionalLong allocatedBytes(Path file) {
        return DiskUsage.allocatedBytes(file);
    }
}
