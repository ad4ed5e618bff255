package dev.kelpie.daemon.sandboxes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.datatype.jdk8.Jdk8Module;
import dev.kelpie.daemon.hypervisor.GuestArchs;
import dev.kelpie.daemon.network.EgressGateway;
import dev.kelpie.daemon.network.EgressTraffic;
import dev.kelpie.daemon.network.NetworkMode;
import dev.kelpie.daemon.network.NetworkPolicy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Usage accounting: the arithmetic, and the counters kept across pause, resume and a daemon restart. */
class SandboxUsageTest {

    private static final SandboxLimits LIMITS = new SandboxLimits(3, 1024, 4, 512, 4096);
    private static final SandboxSettings SETTINGS = new SandboxSettings(GuestArchs.of("x86_64"), 1, 256, Duration.ofSeconds(5),
            Duration.ofSeconds(1), 2, 64, 1024, Duration.ZERO);
    private static final long T0_MS = 1_000_000;

    @TempDir
    Path state;
    private final FakeHypervisor hypervisor = new FakeHypervisor();
    private final InProcessAgents agents = new InProcessAgents();
    private final AtomicInteger nextId = new AtomicInteger();
    private final ObjectMapper json = new ObjectMapper().registerModule(new Jdk8Module());
    private final MutableClock clock = new MutableClock();
    /** The VM processes' CPU seconds as the OS would report them, by pid. */
    private final Map<Long, Double> cpuByPid = new ConcurrentHashMap<>();
    private final VmCpuTime cpu = vm -> cpuByPid.containsKey(vm.pid()) ? OptionalDouble.of(cpuByPid.get(vm.pid()))
            : OptionalDouble.empty();
    /** The counters each proxy was opened with, by sandbox id: a new daemon's proxy starts at zero. */
    private final Map<String, EgressTraffic> proxies = new ConcurrentHashMap<>();
    private final EgressGateway egress = (id, socket, allowlist, traffic) -> {
        proxies.put(id, traffic);
        return () -> { };
    };
    private SandboxManager manager;

    private SandboxManager newManager() {
        return new SandboxManager(hypervisor, new OneImage(), agents, new DirectorySandboxStore(state, json), clock,
                LIMITS, SETTINGS, () -> "sb" + nextId.incrementAndGet(), Runnable::run, egress, cpu);
    }

    @AfterEach
    void stop() {
        if (manager != null) {
            manager.close();
        }
        agents.close();
    }

    private void advance(Duration d) {
        clock.advance(d);
    }

    // ---- the arithmetic ----------------------------------------------------------------------------------------

    @Test
    void cpuIsTheProcessTimeAboveTheBaselineAndStandsWhenTheProcessCannotBeRead() {
        SandboxUsage u = SandboxUsage.startingAt(T0_MS).withVmCpuBaseline(2.0);
        u = u.advancedTo(T0_MS, 0, OptionalDouble.of(5.0), 0, 0);
        assertEquals(3.0, u.cpuSeconds(), 1e-9);
        u = u.advancedTo(T0_MS, 0, OptionalDouble.empty(), 0, 0);
        assertEquals(3.0, u.cpuSeconds(), 1e-9, "a gone process leaves the last figure");
        u = u.advancedTo(T0_MS, 0, OptionalDouble.of(1.0), 0, 0);
        assertEquals(3.0, u.cpuSeconds(), 1e-9, "never backwards");
    }

    @Test
    void memoryIsHeldMibTimesWallTimeAndEgressAddsUp() {
        SandboxUsage u = SandboxUsage.startingAt(T0_MS);
        u = u.advancedTo(T0_MS + 10_000, 256, OptionalDouble.empty(), 100, 7);
        assertEquals(2560.0, u.memoryMibSeconds(), 1e-9);
        u = u.advancedTo(T0_MS + 15_000, 0, OptionalDouble.empty(), 50, -3);
        assertEquals(2560.0, u.memoryMibSeconds(), 1e-9, "no VM held, nothing charged");
        assertEquals(T0_MS + 15_000, u.accountedUntilMs());
        u = u.advancedTo(T0_MS + 12_000, 256, OptionalDouble.empty(), 0, 0);
        assertEquals(2560.0, u.memoryMibSeconds(), 1e-9, "a clock stepped back charges nothing twice");
        assertEquals(150, u.egressBytesIn());
        assertEquals(7, u.egressBytesOut(), "a negative delta adds nothing");
    }

    @Test
    void aMeterCountsEachProxysBytesOnceAndANewProxyFromZero() {
        UsageMeter meter = new UsageMeter(SandboxUsage.startingAt(T0_MS));
        EgressTraffic first = new EgressTraffic();
        first.received(1000);
        first.sent(10);
        meter.observe(T0_MS, 0, OptionalDouble.empty(), Optional.of(first));
        first.received(500);
        meter.observe(T0_MS, 0, OptionalDouble.empty(), Optional.of(first));
        assertEquals(1500, meter.latest().egressBytesIn());
        EgressTraffic next = new EgressTraffic(); // a restarted daemon's proxy
        next.received(20);
        SandboxUsage u = meter.observe(T0_MS, 0, OptionalDouble.empty(), Optional.of(next));
        assertEquals(1520, u.egressBytesIn());
        assertEquals(10, u.egressBytesOut());
    }

    // ---- through the manager -----------------------------------------------------------------------------------

    @Test
    void countersNeverGoBackwardsAcrossPauseResumeAndADaemonRestartAndCpuIsNotCountedTwice() throws Exception {
        hypervisor.networking = true;
        manager = newManager();
        SandboxRecord created = manager.create(new SandboxConfig("", 0, 256, 0, Map.of(), Map.of(), 0, 0,
                new NetworkPolicy(NetworkMode.EGRESS, List.of(), List.of())));
        long pid = created.vm().pid();
        cpuByPid.put(pid, 3.0);
        proxies.get(created.id()).received(4096);
        proxies.get(created.id()).sent(512);
        advance(Duration.ofSeconds(10));
        SandboxUsage ready = manager.get(created.id()).usage();
        assertEquals(3.0, ready.cpuSeconds(), 1e-9);
        assertEquals(256 * 10.0, ready.memoryMibSeconds(), 1e-9);
        assertEquals(4096, ready.egressBytesIn());
        assertEquals(512, ready.egressBytesOut());

        manager.pause(created.id());
        cpuByPid.put(pid, 3.5);
        advance(Duration.ofSeconds(10));
        SandboxUsage paused = manager.get(created.id()).usage();
        assertEquals(3.5, paused.cpuSeconds(), 1e-9);
        assertEquals(256 * 20.0, paused.memoryMibSeconds(), 1e-9, "a paused VM still holds its memory");

        manager.close(); // the VM runs on through the restart, and keeps using CPU
        SandboxRecord saved = json.readValue(Files.readString(state.resolve("sandboxes/" + created.id() + ".json")),
                SandboxRecord.class);
        assertEquals(3.5, saved.usage().cpuSeconds(), 1e-9, "a clean stop saves the usage");
        cpuByPid.put(pid, 6.0);
        advance(Duration.ofSeconds(5));
        manager = newManager();
        manager.recover();
        SandboxUsage restarted = manager.get(created.id()).usage();
        assertEquals(6.0, restarted.cpuSeconds(), 1e-9, "the process's 6 s, not 6 + the 3.5 already counted");
        assertEquals(256 * 25.0, restarted.memoryMibSeconds(), 1e-9, "the VM held its memory while no daemon ran");
        assertEquals(4096, restarted.egressBytesIn(), "the old proxy's bytes are kept; the new one starts at 0");

        proxies.get(created.id()).received(100);
        manager.resume(created.id());
        SandboxUsage resumed = manager.get(created.id()).usage();
        assertEquals(4196, resumed.egressBytesIn());
        assertTrue(resumed.cpuSeconds() >= restarted.cpuSeconds()
                && resumed.memoryMibSeconds() >= restarted.memoryMibSeconds());
    }

    @Test
    void theReaperSavesUsageOnlyOnceItIsAMinuteAheadOfTheRecord() throws Exception {
        manager = newManager();
        SandboxRecord created = manager.create(new SandboxConfig("", 0, 256, 0, Map.of(), Map.of(), 0, 0, null));
        Path file = state.resolve("sandboxes/" + created.id() + ".json");
        String before = Files.readString(file);
        advance(Duration.ofSeconds(30));
        manager.reapExpired();
        assertEquals(before, Files.readString(file), "30 s of usage is kept in memory");
        advance(Duration.ofMillis(UsageAccounting.USAGE_SAVE_INTERVAL_MS));
        manager.reapExpired();
        SandboxRecord saved = json.readValue(Files.readString(file), SandboxRecord.class);
        assertEquals(256 * (30 + UsageAccounting.USAGE_SAVE_INTERVAL_MS / 1000.0), saved.usage().memoryMibSeconds(), 1e-9);
    }

    @Test
    void aWarmPoolVmsBootIsNotTheSandboxsCpu() throws Exception {
        manager = newManager();
        manager.startWarmPool(1, "");
        hypervisor.booted.forEach(vm -> cpuByPid.put(vm.record().pid(), 2.0));
        SandboxRecord taken = manager.create(new SandboxConfig("", 0, 0, 0, Map.of(), Map.of(), 0, 0, null));
        assertTrue(taken.fromPool());
        assertEquals(0.0, manager.get(taken.id()).usage().cpuSeconds(), 1e-9);
        cpuByPid.put(taken.vm().pid(), 2.75);
        assertEquals(0.75, manager.get(taken.id()).usage().cpuSeconds(), 1e-9);
    }
}
