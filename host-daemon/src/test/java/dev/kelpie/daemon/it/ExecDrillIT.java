package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.ExecResponse;
import dev.kelpie.api.v1.ProcessSummary;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxState;
import dev.kelpie.api.v1.SandboxStatsRequest;
import dev.kelpie.api.v1.SandboxStatsResponse;
import dev.kelpie.api.v1.SandboxUsage;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.daemon.agent.StreamCollector;
import io.grpc.Status;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fault drills in the middle of an exec that streams output: the daemon is killed with SIGKILL and a new one takes
 * over its state directory, or the sandbox's qemu is killed with SIGKILL under a live daemon. Either way the host must
 * be left consistent (see {@link Leftovers}), and the client told what happened.
 */
class ExecDrillIT {

    /**
     * How long the agent keeps a process whose stream lost its connection, waiting for a re-attach, before it kills
     * it (guest-agent/README.md: {@code --reattach-grace-ms}, 60 s by default; the daemon does not change it).
     */
    private static final Duration AGENT_REATTACH_GRACE = Duration.ofSeconds(60);
    /** Generous on a busy 2-core host under TCG: the guest may lag the host by seconds. */
    private static final Duration GUEST_SLACK = Duration.ofSeconds(60);
    private static final int SIGKILL = 9;
    /** An endless command that keeps its stream busy, so the fault lands mid-stream. */
    private static final String TICKER = "echo started; while :; do echo tick; sleep 0.1; done";

    @TempDir
    static Path work;
    static String[] args;
    /** The daemon serving now: the drill that kills one leaves its successor here for the next test. */
    static DaemonProcess daemon;

    @BeforeAll
    static void startDaemon() throws Exception {
        String imageDir = System.getProperty("kelpie.it.imageDir", "");
        Assumptions.assumeFalse(imageDir.isBlank(), "no image given (-Dkelpie.imageDir=...; scripts/dev passes it)");
        args = SandboxesIT.daemonArgs(imageDir);
        daemon = DaemonProcess.startServing(work, "exec-drill", args);
    }

    @AfterAll
    static void stopDaemon() throws Exception {
        if (daemon != null) {
            try (SandboxClient client = new SandboxClient(daemon.socket)) {
                client.deleteAll();
            } finally {
                daemon.close();
                Leftovers.killQemusNaming(work);
            }
        }
    }

    @Test
    void killNineOfTheDaemonMidExecLeavesTheSandboxReadoptedAndTheOrphanedProcessKilledAfterItsGrace() throws Exception {
        String sandboxId;
        String processId;
        long qemuPid;
        long killed;
        StreamCollector.Outcome<ExecResponse> cut;
        try (SandboxClient client = new SandboxClient(daemon.socket)) {
            sandboxId = client.create(SandboxSpec.getDefaultInstance()).getId();
            qemuPid = qemuPid(sandboxId);
            StreamCollector<ExecResponse> ticking = client.start(sandboxId, SandboxesIT.sh(TICKER));
            Await.until("the exec to stream ticks", Duration.ofSeconds(60),
                    () -> SandboxesIT.stdout(ticking.messages()).contains("tick\ntick\n"));
            processId = ticking.messages().get(0).getEvent().getStarted().getProcessId();
            daemon.kill9();
            killed = System.nanoTime();
            cut = ticking.await(Await.scaled(SandboxClient.CALL_TIMEOUT));
        }
        assertEquals(Status.Code.UNAVAILABLE, cut.status().getCode(), "the client's stream breaks with the connection: "
                + cut.status());
        assertTrue(cut.messages().stream().noneMatch(m -> m.getEvent().hasExit()), "no made-up exit status");

        daemon = daemon.startSuccessor(work.resolve("exec-drill/successor.log"), args);
        try (SandboxClient client = new SandboxClient(daemon.socket)) {
            Sandbox readopted = client.get(sandboxId);
            assertEquals(SandboxState.SANDBOX_STATE_READY, readopted.getState(), "re-adopted (ADR 0013): " + readopted);
            assertEquals(qemuPid, qemuPid(sandboxId), "the same VM, not a new one");
            // Connection loss is not cancellation: the agent keeps the process for a re-attach (checked while the
            // grace surely runs), then kills it.
            if (Duration.ofNanos(System.nanoTime() - killed).compareTo(AGENT_REATTACH_GRACE.dividedBy(2)) < 0) {
                assertTrue(client.processes(sandboxId).stream().anyMatch(p -> p.getProcessId().equals(processId)
                        && p.getRunning()), "within its grace the cut exec's process runs on: " + client.processes(sandboxId));
            }
            assertEquals("still here\n", client.sh(sandboxId, "echo still here"), "a new exec works on the adopted VM");
            Leftovers.assertOnlyLiveSandboxes(work, daemon, client.list());

            ProcessSummary orphan = awaitEnded(client, sandboxId, processId, AGENT_REATTACH_GRACE.plus(GUEST_SLACK));
            assertEquals(SIGKILL, orphan.getExit().getSignal(), "killed by the agent, not ended by itself: " + orphan);
            assertTrue(client.processes(sandboxId).stream().noneMatch(ProcessSummary::getRunning),
                    "no process of the cut exec runs on: " + client.processes(sandboxId));

            client.sandboxes().delete(DeleteSandboxRequest.newBuilder().setId(sandboxId).build());
            Leftovers.assertOnlyLiveSandboxes(work, daemon, client.list());
        }
    }

    /** The VMM's CPU seconds as the kernel counts them (utime + stime; USER_HZ is 100). */
    private static double processCpuSeconds(long pid) throws Exception {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
    }

    private static void assertNotBackwards(SandboxUsage earlier, SandboxUsage later, String when) {
        assertTrue(later.getCpuSeconds() >= earlier.getCpuSeconds()
                && later.getMemoryMibSeconds() >= earlier.getMemoryMibSeconds()
                && later.getEgressBytesIn() >= earlier.getEgressBytesIn()
                && later.getEgressBytesOut() >= earlier.getEgressBytesOut(), when + ": " + earlier + " then " + later);
    }

    @Test
    void usageNeverGoesBackwardsAcrossAPauseAndADaemonKilledAndRestartedAndCountsTheVmsCpuOnce() throws Exception {
        String sandboxId;
        long qemuPid;
        SandboxUsage paused;
        try (SandboxClient client = new SandboxClient(daemon.socket)) {
            sandboxId = client.create(SandboxSpec.getDefaultInstance()).getId();
            qemuPid = qemuPid(sandboxId);
            client.sh(sandboxId, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done");
            SandboxUsage ready = client.get(sandboxId).getUsage();
            assertTrue(ready.getCpuSeconds() > 0 && ready.getMemoryMibSeconds() > 0, ready.toString());
            client.sandboxes().pause(dev.kelpie.api.v1.PauseSandboxRequest.newBuilder().setId(sandboxId).build());
            paused = client.get(sandboxId).getUsage();
            assertNotBackwards(ready, paused, "pause");
        }
        daemon.kill9(); // no last save: the usage of the pause's record is what the next daemon finds
        daemon = daemon.startSuccessor(work.resolve("exec-drill/usage-successor.log"), args);
        try (SandboxClient client = new SandboxClient(daemon.socket)) {
            SandboxUsage restarted = client.get(sandboxId).getUsage();
            assertNotBackwards(paused, restarted, "daemon restart");
            assertTrue(restarted.getCpuSeconds() <= processCpuSeconds(qemuPid) + 0.05,
                    "the VM's CPU is counted once, not again on top of what the record held: " + restarted
                            + " vs the process's " + processCpuSeconds(qemuPid) + " s");
            client.sandboxes().resume(dev.kelpie.api.v1.ResumeSandboxRequest.newBuilder().setId(sandboxId).build());
            client.sh(sandboxId, "true");
            SandboxUsage resumed = client.get(sandboxId).getUsage();
            assertNotBackwards(restarted, resumed, "resume");
            client.sandboxes().delete(DeleteSandboxRequest.newBuilder().setId(sandboxId).build());
        }
    }

    @Test
    void killNineOfTheVmMidExecEndsTheStreamUnavailableAndFailsTheSandbox() throws Exception {
        try (SandboxClient client = new SandboxClient(daemon.socket)) {
            String sandboxId = client.create(SandboxSpec.getDefaultInstance()).getId();
            long qemuPid = qemuPid(sandboxId);
            StreamCollector<ExecResponse> ticking = client.start(sandboxId, SandboxesIT.sh(TICKER));
            Await.until("the exec to stream ticks", Duration.ofSeconds(60),
                    () -> SandboxesIT.stdout(ticking.messages()).contains("tick\ntick\n"));
            ProcessHandle.of(qemuPid).orElseThrow().destroyForcibly();

            var cut = ticking.await(Await.scaled(SandboxClient.CALL_TIMEOUT));
            assertEquals(Status.Code.UNAVAILABLE, cut.status().getCode(), cut.status().toString());
            String reason = String.valueOf(cut.status().getDescription());
            assertTrue(reason.contains("sandbox " + sandboxId) && reason.contains("exited"),
                    "the status names the sandbox and its VM's death: " + reason);
            assertTrue(cut.messages().stream().noneMatch(m -> m.getEvent().hasExit()), "no made-up exit status");

            Await.until("the sandbox to be marked failed", Duration.ofSeconds(60),
                    () -> client.get(sandboxId).getState() == SandboxState.SANDBOX_STATE_FAILED);
            String failure = client.get(sandboxId).getFailureReason();
            assertTrue(failure.contains("exited unexpectedly"), failure);
            StreamCollector<SandboxStatsResponse> stats = new StreamCollector<>();
            SandboxesGrpc.newStub(client.channel).stats(SandboxStatsRequest.newBuilder().setId(sandboxId).build(), stats);
            assertEquals(Status.Code.FAILED_PRECONDITION, stats.await(Await.scaled(SandboxClient.CALL_TIMEOUT)).status()
                    .getCode(), "no stats of a failed sandbox");
            Status refused = client.start(sandboxId, SandboxesIT.sh("true")).await(Await.scaled(SandboxClient.CALL_TIMEOUT))
                    .status();
            assertEquals(Status.Code.FAILED_PRECONDITION, refused.getCode(), refused.toString());
            assertTrue(String.valueOf(refused.getDescription()).contains("failed"), refused.toString());
            assertFalse(Files.exists(runtimeDir(sandboxId)), "a dead VM's sockets and disk are removed at once");
            Leftovers.assertOnlyLiveSandboxes(work, daemon, client.list());

            client.sandboxes().delete(DeleteSandboxRequest.newBuilder().setId(sandboxId).build());
            assertTrue(client.list().stream().noneMatch(s -> s.getId().equals(sandboxId)), "Delete removes it");
            assertFalse(Files.exists(daemon.stateDir.resolve("sandboxes").resolve(sandboxId + ".json")), "its record too");
            Leftovers.assertOnlyLiveSandboxes(work, daemon, client.list());
        }
    }

    /** Waits until the process has ended and returns its summary (with the exit status the agent recorded). */
    private static ProcessSummary awaitEnded(SandboxClient client, String sandboxId, String processId, Duration timeout) {
        ProcessSummary[] last = new ProcessSummary[1];
        Await.until("process " + processId + " to end", timeout, () -> {
            Optional<ProcessSummary> p = client.processes(sandboxId).stream()
                    .filter(s -> s.getProcessId().equals(processId)).findFirst();
            p.ifPresent(s -> last[0] = s);
            return p.isPresent() && !p.get().getRunning();
        });
        return last[0];
    }

    private static Path runtimeDir(String sandboxId) {
        return daemon.stateDir.resolve("vms").resolve(sandboxId);
    }

    private static long qemuPid(String sandboxId) throws Exception {
        return Long.parseLong(Files.readString(runtimeDir(sandboxId).resolve("qemu.pid")).strip());
    }
}
