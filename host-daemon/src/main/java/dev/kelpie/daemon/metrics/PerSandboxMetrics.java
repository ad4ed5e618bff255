package dev.kelpie.daemon.metrics;

import dev.kelpie.daemon.config.KelpieConfig;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import dev.kelpie.daemon.sandboxes.SandboxNotFoundException;
import dev.kelpie.daemon.sandboxes.SandboxRecord;
import dev.kelpie.daemon.stats.SandboxStatsSample;
import dev.kelpie.daemon.stats.SandboxStatsSampler;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.ToDoubleFunction;

/**
 * Each sandbox's resource use as {@code kelpie_sandbox_*{sandbox="ID"}}, when {@code kelpie.metrics.per-sandbox} is
 * on (off by default: every sandbox adds a dozen series, and ids never repeat). A sandbox's series appear once it holds
 * a VM and go when it fails or is deleted. One scrape samples each sandbox once (see {@link CachedSample}).
 */
@Singleton
public class PerSandboxMetrics {

    /** Gauges of one sandbox read within this long share one sample. */
    static final long SAMPLE_REUSE_MS = 1_000;
    /** A scrape waits at most this long for a guest's figures. */
    static final long GUEST_TIMEOUT_MS = 1_000;

    private final MeterRegistry registry;
    private final SandboxManager manager;
    private final SandboxStatsSampler sampler;
    private final boolean enabled;
    /** The meters of each sandbox that has them. */
    private final Map<String, List<Meter>> meters = new ConcurrentHashMap<>();

    @Inject
    public PerSandboxMetrics(MeterRegistry registry, SandboxManager manager, SandboxStatsSampler sampler,
            KelpieConfig config) {
        this(registry, manager, sampler, config.metrics().perSandbox());
    }

    PerSandboxMetrics(MeterRegistry registry, SandboxManager manager, SandboxStatsSampler sampler, boolean enabled) {
        this.registry = registry;
        this.manager = manager;
        this.sampler = sampler;
        this.enabled = enabled;
    }

    /** After the sandboxes of an earlier daemon were recovered (SandboxSupervision, priority 20). */
    void onStart(@Observes @Priority(30) StartupEvent event) {
        start();
    }

    /** Follows the sandboxes from now on, if per-sandbox metrics are on. */
    void start() {
        if (!enabled) {
            return;
        }
        manager.events().subscribe(e -> follow(e.sandbox()));
        manager.list(Map.of()).forEach(this::follow);
    }

    private void follow(SandboxRecord sandbox) {
        String id = sandbox.id();
        if (sandbox.state().holdsVm() && sandbox.vm() != null) {
            meters.computeIfAbsent(id, key -> register(key, new CachedSample(key)));
        } else if (!sandbox.state().holdsVm()) {
            List<Meter> gone = meters.remove(id);
            if (gone != null) {
                gone.forEach(registry::remove);
            }
        }
    }

    private List<Meter> register(String id, CachedSample s) {
        List<Meter> m = new ArrayList<>();
        m.add(counter("kelpie.sandbox.cpu.seconds", "CPU time of the sandbox's VM process (usage)", id, s,
                x -> x.record().usage().cpuSeconds()));
        m.add(counter("kelpie.sandbox.memory.mib.seconds", "Allocated guest memory times wall time held (usage)", id, s,
                x -> x.record().usage().memoryMibSeconds()));
        m.add(counter("kelpie.sandbox.egress.received.bytes", "Bytes the guest received through the egress proxy", id, s,
                x -> x.record().usage().egressBytesIn()));
        m.add(counter("kelpie.sandbox.egress.sent.bytes", "Bytes the guest sent through the egress proxy", id, s,
                x -> x.record().usage().egressBytesOut()));
        m.add(gauge("kelpie.sandbox.egress.connections", "Open guest connections to the egress proxy", id, s,
                x -> x.egress().openConnections()));
        m.add(gauge("kelpie.sandbox.rss.bytes", "Resident set size of the VM process", id, s,
                x -> x.vmProcess().map(p -> (double) p.rssBytes()).orElse(Double.NaN)));
        m.add(gauge("kelpie.sandbox.pss.bytes", "Proportional set size of the VM process (Linux)", id, s,
                x -> x.vmProcess().flatMap(p -> p.pssBytes().isPresent() ? java.util.Optional.of((double) p.pssBytes()
                        .getAsLong()) : java.util.Optional.empty()).orElse(Double.NaN)));
        m.add(gauge("kelpie.sandbox.disk.allocated.bytes", "Host bytes allocated to the writable disk file", id, s,
                x -> x.diskAllocatedBytes().isPresent() ? x.diskAllocatedBytes().getAsLong() : Double.NaN));
        m.add(gauge("kelpie.sandbox.guest.memory.total.bytes", "Guest MemTotal", id, s,
                x -> x.guest().map(g -> (double) g.getMemoryTotalBytes()).orElse(Double.NaN)));
        m.add(gauge("kelpie.sandbox.guest.memory.available.bytes", "Guest MemAvailable", id, s,
                x -> x.guest().map(g -> (double) g.getMemoryAvailableBytes()).orElse(Double.NaN)));
        m.add(gauge("kelpie.sandbox.guest.load1", "Guest one-minute load average", id, s,
                x -> x.guest().map(g -> g.getLoadAverage1M()).orElse(Double.NaN)));
        m.add(gauge("kelpie.sandbox.guest.filesystem.used.bytes", "Bytes used on the guest's /workspace file system",
                id, s, x -> x.guest().map(g -> (double) g.getFilesystemUsedBytes()).orElse(Double.NaN)));
        m.add(gauge("kelpie.sandbox.guest.processes", "Processes in the guest", id, s,
                x -> x.guest().map(g -> (double) g.getProcessCount()).orElse(Double.NaN)));
        return m;
    }

    private Meter gauge(String name, String description, String id, CachedSample s,
            ToDoubleFunction<SandboxStatsSample> value) {
        return Gauge.builder(name, s, c -> c.read(value)).description(description).tag("sandbox", id)
                .strongReference(true).register(registry);
    }

    private Meter counter(String name, String description, String id, CachedSample s,
            ToDoubleFunction<SandboxStatsSample> value) {
        return FunctionCounter.builder(name, s, c -> c.read(value)).description(description).tag("sandbox", id)
                .register(registry);
    }

    /** One sandbox's latest sample, taken again only once {@link #SAMPLE_REUSE_MS} passed. */
    private final class CachedSample {
        private final String id;
        private SandboxStatsSample sample;
        private long takenNanos;

        CachedSample(String id) {
            this.id = id;
        }

        synchronized double read(ToDoubleFunction<SandboxStatsSample> value) {
            long now = System.nanoTime();
            if (sample == null || now - takenNanos > SAMPLE_REUSE_MS * 1_000_000) {
                try {
                    sample = sampler.sample(id, GUEST_TIMEOUT_MS);
                    takenNanos = now;
                } catch (SandboxNotFoundException e) {
                    return Double.NaN; // deleted; its meters go with the event
                }
            }
            return value.applyAsDouble(sample);
        }
    }
}
