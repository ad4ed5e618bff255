package dev.kelpie.daemon.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.datatype.jdk8.Jdk8Module;
import dev.kelpie.daemon.hypervisor.GuestArchs;
import dev.kelpie.daemon.hypervisor.ProcessIdentity;
import dev.kelpie.daemon.sandboxes.DirectorySandboxStore;
import dev.kelpie.daemon.sandboxes.FakeHypervisor;
import dev.kelpie.daemon.sandboxes.InProcessAgents;
import dev.kelpie.daemon.sandboxes.OneImage;
import dev.kelpie.daemon.sandboxes.SandboxConfig;
import dev.kelpie.daemon.sandboxes.SandboxLimits;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import dev.kelpie.daemon.sandboxes.SandboxRecord;
import dev.kelpie.daemon.sandboxes.SandboxSettings;
import dev.kelpie.daemon.stats.HostResources;
import dev.kelpie.daemon.stats.ProcessSample;
import dev.kelpie.daemon.stats.SandboxStatsSampler;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** kelpie_sandbox_*{sandbox}: there only when asked for, per sandbox holding a VM, gone with it. */
class PerSandboxMetricsTest {

    @TempDir
    Path state;
    private final InProcessAgents agents = new InProcessAgents();
    private final AtomicInteger ids = new AtomicInteger();
    /** Every VM process reads as 3 s of CPU and 300 MiB resident. */
    private final HostResources host = new HostResources() {
        @Override
        public Optional<ProcessSample> process(ProcessIdentity process) {
            return Optional.of(new ProcessSample(3.0, 300L << 20, OptionalLong.of(200L << 20)));
        }

        @Override
        public OptionalDouble cpuSeconds(ProcessIdentity process) {
            return OptionalDouble.of(3.0);
        }

        @Override
        public OptionalLong allocatedBytes(Path file) {
            return OptionalLong.of(40L << 20);
        }
    };
    private SandboxManager manager;

    private SandboxManager newManager() {
        return new SandboxManager(new FakeHypervisor(), new OneImage(), agents,
                new DirectorySandboxStore(state, new ObjectMapper().registerModule(new Jdk8Module())),
                Clock.systemUTC(), new SandboxLimits(3, 1024, 4, 512, 4096),
                new SandboxSettings(GuestArchs.of("x86_64"), 1, 256, Duration.ofSeconds(5), Duration.ofSeconds(1), 2, 64, 1024,
                        Duration.ZERO), () -> "sb" + ids.incrementAndGet(), Runnable::run,
                (id, socket, allowlist, traffic) -> () -> { }, host.cpuTime());
    }

    @AfterEach
    void stop() {
        manager.close();
        agents.close();
    }

    private static SandboxConfig config() {
        return new SandboxConfig("", 0, 0, 0, Map.of(), Map.of(), 0, 0, null);
    }

    @Test
    void eachSandboxGetsItsSeriesWhileItHoldsAVm() throws Exception {
        manager = newManager();
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        SandboxRecord before = manager.create(config());
        new PerSandboxMetrics(registry, manager, new SandboxStatsSampler(manager, host, Clock.systemUTC()), true).start();
        SandboxRecord after = manager.create(config());

        for (SandboxRecord r : new SandboxRecord[] {before, after}) {
            assertEquals(300L << 20, registry.get("kelpie.sandbox.rss.bytes").tag("sandbox", r.id()).gauge().value());
            assertEquals(200L << 20, registry.get("kelpie.sandbox.pss.bytes").tag("sandbox", r.id()).gauge().value());
            assertEquals(40L << 20, registry.get("kelpie.sandbox.disk.allocated.bytes").tag("sandbox", r.id()).gauge()
                    .value());
            assertEquals(3.0, registry.get("kelpie.sandbox.cpu.seconds").tag("sandbox", r.id()).functionCounter().count());
        }
        manager.delete(before.id());
        assertNull(registry.find("kelpie.sandbox.rss.bytes").tag("sandbox", before.id()).gauge(), "gone with it");
        assertTrue(registry.find("kelpie.sandbox.rss.bytes").tag("sandbox", after.id()).gauge() != null);
    }

    @Test
    void offByDefaultNothingIsRegistered() throws Exception {
        manager = newManager();
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        new PerSandboxMetrics(registry, manager, new SandboxStatsSampler(manager, host, Clock.systemUTC()), false).start();
        manager.create(config());
        assertTrue(registry.find("kelpie.sandbox.rss.bytes").gauges().isEmpty());
    }
}
