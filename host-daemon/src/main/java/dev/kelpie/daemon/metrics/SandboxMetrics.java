package dev.kelpie.daemon.metrics;

import dev.kelpie.daemon.sandboxes.SandboxManager;
import dev.kelpie.daemon.sandboxes.SandboxState;
import dev.kelpie.daemon.sandboxes.WarmPoolStatus;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToIntFunction;

/**
 * The daemon's own Prometheus metrics (served at {@code /q/metrics} on the metrics socket and port, next to the
 * JVM's): sandboxes by state, the warm pool, boot time, exec latency and bytes streamed. Gauges read the manager when scraped; nothing is cached here.
 */
@Singleton
public class SandboxMetrics {

    private final MeterRegistry registry;
    private final Counter execOutputBytes;
    private final Timer execStartLatency;

    @Inject
    public SandboxMetrics(MeterRegistry registry, SandboxManager manager) {
        this.registry = registry;
        for (SandboxState state : SandboxState.values()) {
            Gauge.builder("kelpie.sandboxes", manager, m -> m.list(Map.of()).stream().filter(r -> r.state() == state).count())
                    .description("Sandboxes by state").tag("state", state.name().toLowerCase(Locale.ROOT)).register(registry);
        }
        poolGauge("kelpie.warm.pool.ready", "Warm VMs ready to be taken", manager, WarmPoolStatus::ready);
        poolGauge("kelpie.warm.pool.booting", "Warm VMs booting", manager, WarmPoolStatus::booting);
        poolGauge("kelpie.warm.pool.target", "Configured warm pool size", manager, WarmPoolStatus::targetSize);
        FunctionCounter.builder("kelpie.warm.pool.taken", manager, m -> m.warmPoolStatus().map(WarmPoolStatus::takenTotal).orElse(0L))
                .description("Sandboxes served from the warm pool").register(registry);
        FunctionCounter.builder("kelpie.warm.pool.failed.boots", manager,
                m -> m.warmPoolStatus().map(WarmPoolStatus::failedBootsTotal).orElse(0L))
                .description("Warm pool refill boots that failed").register(registry);
        this.execOutputBytes = Counter.builder("kelpie.exec.output.bytes").baseUnit("bytes")
                .description("Process output streamed to clients").register(registry);
        this.execStartLatency = Timer.builder("kelpie.exec.start.latency").publishPercentileHistogram()
                .description("From an Exec request to its process's Started event").register(registry);
    }

    private void poolGauge(String name, String description, SandboxManager manager, ToIntFunction<WarmPoolStatus> value) {
        Gauge.builder(name, manager, m -> m.warmPoolStatus().map(value::applyAsInt).orElse(0))
                .description(description).register(registry);
    }

    /** Records a finished Create: how long until READY, and whether a warm VM served it. */
    public void created(Duration took, boolean fromPool, boolean succeeded) {
        Timer.builder("kelpie.sandbox.create").publishPercentileHistogram()
                .description("Create until the sandbox is READY (or failed)")
                .tag("from_pool", Boolean.toString(fromPool)).tag("outcome", succeeded ? "ready" : "failed")
                .register(registry).record(took);
    }

    public void execStarted(Duration sinceRequest) {
        execStartLatency.record(sinceRequest);
    }

    public void outputStreamed(long bytes) {
        execOutputBytes.increment(bytes);
    }
}
