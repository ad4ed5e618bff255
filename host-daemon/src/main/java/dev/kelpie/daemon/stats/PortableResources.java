package dev.kelpie.daemon.stats;

import dev.kelpie.daemon.hypervisor.ProcessIdentity;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;

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
            Process ps = new ProcessBuilder("ps", "-o", "rss=", "-p", Long.toString(pid)).redirectErrorStream(true).start();
            String out = new String(ps.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).strip();
            if (!ps.waitFor(PS_TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
                ps.destroyForcibly();
                return 0;
            }
            return out.isEmpty() ? 0 : Long.parseLong(out) * KIB_BYTES;
        } catch (IOException | NumberFormatException e) {
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
