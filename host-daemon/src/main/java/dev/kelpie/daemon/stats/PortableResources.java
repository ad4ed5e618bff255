package dev.kelpie.daemon.stats;

import dev.kelpie.daemon.hypervisor.ProcessIdentity;
import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.List;
import java.util.OptionalLong;

/**
 * Hosts without /proc (macOS): CPU time from the JDK's process info, RSS from {@code ps}; no PSS, which macOS does not
 * account.
 */
final class PortableResources implements HostResources {

    private static final long PS_TIMEOUT_MS = 5_000;
    private static final long KIB_BYTES = 1024;

    @Override
    public Optional<ProcessSample> process(ProcessIdentity process) {
        Optional<ProcessHandle> live = process.live();
        if (live.isEmpty()) {
            return Optional.empty();
        }
        Optional<java.time.Duration> cpu = live.get().info().totalCpuDuration();
        if (cpu.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(new ProcessSample(cpu.get().toNanos() / 1e9, rssBytes(process.pid()), OptionalLong.empty()));
    }

    @Override
    public OptionalDouble cpuSeconds(ProcessIdentity process) {
        return process.live().flatMap(h -> h.info().totalCpuDuration()).map(d -> OptionalDouble.of(d.toNanos() / 1e9))
                .orElse(OptionalDouble.empty());
    }

    private static long rssBytes(long pid) {
        try {
            return ShortCommand.output(List.of("ps", "-o", "rss=", "-p", Long.toString(pid)), PS_TIMEOUT_MS)
                    .filter(out -> !out.isEmpty()).map(out -> Long.parseLong(out) * KIB_BYTES).orElse(0L);
        } catch (NumberFormatException e) {
            return 0;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 0;
        }
    }

    @Override
    public OptionalLong allocatedBytes(Path file) {
        return DiskUsage.allocatedBytes(file);
    }
}
