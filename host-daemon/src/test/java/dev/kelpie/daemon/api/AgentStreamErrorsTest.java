package dev.kelpie.daemon.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.datatype.jdk8.Jdk8Module;
import dev.kelpie.daemon.hypervisor.GuestArchs;
import dev.kelpie.daemon.sandboxes.DirectorySandboxStore;
import dev.kelpie.daemon.sandboxes.FakeHypervisor;
import dev.kelpie.daemon.sandboxes.InProcessAgents;
import dev.kelpie.daemon.sandboxes.OneImage;
import dev.kelpie.daemon.sandboxes.SandboxConfig;
import dev.kelpie.daemon.sandboxes.SandboxLimits;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import dev.kelpie.daemon.sandboxes.SandboxSettings;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A broken agent stream is explained from the sandbox's state; since a dying VM's sockets close before its process is
 * gone, the explanation waits a moment for the death to show.
 */
class AgentStreamErrorsTest {

    private static final StatusRuntimeException CONNECTION_CLOSED = Status.UNAVAILABLE
            .withDescription("Network closed for unknown reason").asRuntimeException();

    @TempDir
    Path state;
    private static final Duration VM_EXIT_VISIBLE_WITHIN = Duration.ofSeconds(2);
    private final FakeHypervisor hypervisor = new FakeHypervisor();
    private final InProcessAgents agents = new InProcessAgents();
    private SandboxManager manager;
    private String sandboxId;

    @BeforeEach
    void createASandbox() throws Exception {
        manager = new SandboxManager(hypervisor, new OneImage(), agents,
                new DirectorySandboxStore(state, new ObjectMapper().registerModule(new Jdk8Module())), Clock.systemUTC(),
                new SandboxLimits(3, 1024, 4, 512, 4096), new SandboxSettings(GuestArchs.of("x86_64"), 1, 256, Duration.ofSeconds(5),
                        Duration.ofSeconds(1), 2, 64, 1024, VM_EXIT_VISIBLE_WITHIN), () -> "sb1", Runnable::run);
        sandboxId = manager.create(new SandboxConfig("", 0, 0, 0, Map.of(), Map.of(), 0, 0, null)).id();
    }

    @AfterEach
    void close() {
        manager.close();
        agents.close();
    }

    @Test
    void aStreamThatBreaksJustBeforeItsVmIsSeenDeadIsExplainedByTheDeath() throws Exception {
        // The VM is seen dead a moment after its stream broke, as a qemu is once its parent reaped it.
        CompletableFuture.runAsync(() -> hypervisor.booted.get(0).crash(),
                CompletableFuture.delayedExecutor(VM_EXIT_VISIBLE_WITHIN.toMillis() / 4,
                        TimeUnit.MILLISECONDS));

        Status status = AgentStreamErrors.explain(manager, sandboxId, CONNECTION_CLOSED).join().getStatus();
        assertEquals(Status.Code.UNAVAILABLE, status.getCode());
        assertTrue(status.getDescription().startsWith("sandbox sb1") && status.getDescription().contains("exited"),
                status.getDescription());
    }

    @Test
    void aStreamThatBreaksUnderALiveVmKeepsItsTransportErrorAfterTheSettleTime() {
        long started = System.nanoTime();
        Status status = AgentStreamErrors.explain(manager, sandboxId, CONNECTION_CLOSED).join().getStatus();
        assertEquals(Status.Code.UNAVAILABLE, status.getCode());
        assertEquals("agent of sandbox sb1: Network closed for unknown reason", status.getDescription());
        assertTrue(System.nanoTime() - started >= VM_EXIT_VISIBLE_WITHIN.toNanos(),
                "it waited for a death that did not come");
    }

    @Test
    void theWaitForAVmDeathNeverHoldsTheCallersThread() {
        // The caller is a stream callback (and, for WriteFile, holds the upload's monitor): it gets a future at once.
        long started = System.nanoTime();
        CompletableFuture<StatusRuntimeException> status = AgentStreamErrors.explain(manager, sandboxId, CONNECTION_CLOSED);
        long tookMs = (System.nanoTime() - started) / 1_000_000;
        assertTrue(tookMs < VM_EXIT_VISIBLE_WITHIN.toMillis() / 4, "explain returned after " + tookMs + " ms");
        assertFalse(status.isDone(), "the settle time runs in the future, not in the call");
        assertEquals(Status.Code.UNAVAILABLE, status.join().getStatus().getCode());
    }

    @Test
    void aStreamBrokenByTheDaemonsShutdownSaysSoAtOnce() {
        manager.close();
        Status status = AgentStreamErrors.explain(manager, sandboxId, CONNECTION_CLOSED).join().getStatus();
        assertTrue(status.getDescription().contains("the daemon is shutting down"), status.getDescription());
    }

    @Test
    void theAgentsOwnAnswerPassesThrough() {
        StatusRuntimeException notFound = Status.NOT_FOUND.withDescription("no process 7").asRuntimeException();
        assertEquals(notFound, AgentStreamErrors.explain(manager, sandboxId, notFound).join());
    }
}
