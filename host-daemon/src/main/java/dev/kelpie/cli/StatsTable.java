package dev.kelpie.cli;

import dev.kelpie.api.v1.SandboxStats;
import java.util.Collection;
import java.util.Locale;

/** The rows of {@code kelpie stats}: one sandbox a line, sizes in binary units, like {@code docker stats}. */
final class StatsTable {

    private static final String FORMAT = "%-14s %-8s %7s %9s %9s %9s %19s %5s %9s %9s %19s %5s %5s%n";

    private StatsTable() {}

    static String render(Collection<SandboxStats> rows) {
        StringBuilder out = new StringBuilder(String.format(Locale.ROOT, FORMAT, "ID", "STATE", "CPU %", "CPU TIME",
                "RSS", "PSS", "GUEST MEM USED/TOT", "LOAD", "DISK", "FS USED", "NET IN/OUT", "CONNS", "PIDS"));
        for (SandboxStats s : rows) {
            boolean vm = s.hasVm();
            boolean guest = s.hasGuest();
            out.append(String.format(Locale.ROOT, FORMAT, s.getId(),
                    s.getState().name().replace("SANDBOX_STATE_", "").toLowerCase(Locale.ROOT),
                    vm ? String.format(Locale.ROOT, "%.1f%%", s.getVm().getCpuPercent()) : "--",
                    vm ? String.format(Locale.ROOT, "%.1fs", s.getVm().getCpuSeconds()) : "--",
                    vm ? bytes(s.getVm().getRssBytes()) : "--",
                    vm && s.getVm().hasPssBytes() ? bytes(s.getVm().getPssBytes()) : "--",
                    guest ? bytes(s.getGuest().getMemoryTotalBytes() - s.getGuest().getMemoryAvailableBytes()) + " / "
                            + bytes(s.getGuest().getMemoryTotalBytes()) : "--",
                    guest ? String.format(Locale.ROOT, "%.2f", s.getGuest().getLoadAverage1M()) : "--",
                    vm ? bytes(s.getDiskAllocatedBytes()) : "--",
                    guest ? bytes(s.getGuest().getFilesystemUsedBytes()) : "--",
                    bytes(s.getEgress().getBytesIn()) + " / " + bytes(s.getEgress().getBytesOut()),
                    Integer.toString(s.getEgress().getOpenConnections()),
                    guest ? Integer.toString(s.getGuest().getProcessCount()) : "--"));
        }
        return out.toString();
    }

    /** 1023B, 1.5KiB, 256MiB, 2.0GiB. */
    static String bytes(long n) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        double value = n;
        int unit = 0;
        while (value >= 1024 && unit < units.length - 1) {
            value /= 1024;
            unit++;
        }
        return unit == 0 ? n + "B" : String.format(Locale.ROOT, value >= 100 ? "%.0f%s" : "%.1f%s", value, units[unit]);
    }
}
