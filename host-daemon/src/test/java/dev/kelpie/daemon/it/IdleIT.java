package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.api.v1.ExecResponse;
import dev.kelpie.api.v1.IdleAction;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxState;
import dev.kelpie.daemon.agent.StreamCollector;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Idle actions on the packaged daemon and real QEMU (TCG) VMs (ADR 0029): a sandbox with idle_action snapshot is
 * suspended after its idle timeout, its VM process ends, and the next exec resumes it with its processes and files;
 * one with an exec in flight, or a detached process an attach follows, is never suspended; a daemon restart in between changes none of this. Two
 * VMs at most.
 */
class IdleIT {

    /** Short, so that the test waits seconds; the reaper looks every second. */
    private static final long IDLE_TIMEOUT_MS = 4_000;
    private static final Duration STATE_TIMEOUT = Duration.ofSeconds(60);

    @TempDir
    static Path work;
    static DaemonProcess daemon;
    static SandboxClient client;

    @BeforeAll
    static void startDaemon() throws Exception {
        String imageDir = System.getProperty("kelpie.it.imageDir", "");
        Assumptions.assumeFalse(imageDir.isBlank(), "no image given (-Dkelpie.imageDir=...; scripts/dev passes it)");
        daemon = DaemonProcess.startServing(work, "idle", daemonArgs(imageDir));
        client = new SandboxClient(daemon.socket);
    }

    private static String[] daemonArgs(String imageDir) {
        return java.util.stream.Stream.concat(java.util.Arrays.stream(SandboxesIT.daemonArgs(imageDir)),
                java.util.stream.Stream.of("-Dkelpie.sandboxes.reap-interval=1s")).toArray(String[]::new);
    }

    @AfterAll
    static void stopDaemon() throws Exception {
        if (client != null) {
            client.deleteAll();
            client.close();
        }
        if (daemon != null) {
            daemon.close();
            Leftovers.killQemusNaming(work);
        }
    }

    private static Path runtimeDir(String id) {
        return daemon.stateDir.resolve("vms").resolve(id);
    }

    private static void awaitState(String id, SandboxState state) {
        Await.until("sandbox " + id + " " + state, Await.scaled(STATE_TIMEOUT),
                () -> client.get(id).getState() == state, () -> client.get(id).toString());
    }

    @Test
    void anIdleSandboxIsSuspendedAndResumedByItsNextExecButABusyOneNeverOverARestartToo() throws Exception {
        SandboxSpec spec = SandboxSpec.newBuilder().setIdleTimeoutMs(IDLE_TIMEOUT_MS)
                .setIdleAction(IdleAction.IDLE_ACTION_SNAPSHOT).build();
        Sandbox idle = client.create(spec);
        Sandbox busy = client.create(spec);
        assertEquals(IdleAction.IDLE_ACTION_SNAPSHOT, idle.getSpec().getIdleAction());
        // A process the exec leaves behind (not a detached exec: that would be work) and a file.
        String pid = client.sh(idle.getId(), "echo kept > /workspace/note; sleep 100000 >/dev/null 2>&1 "
                + "</dev/null & echo $!").strip();
        StreamCollector<ExecResponse> running = client.start(busy.getId(), SandboxesIT.sh("sleep 20; echo done"));

        awaitState(idle.getId(), SandboxState.SANDBOX_STATE_SUSPENDED);
        Await.until("the suspended sandbox's VM process ends", Await.scaled(STATE_TIMEOUT),
                () -> Leftovers.qemusNaming(runtimeDir(idle.getId())).isEmpty());
        assertFalse(client.get(idle.getId()).hasVmMemory(), "no VM process, no VM memory");
        assertEquals(SandboxState.SANDBOX_STATE_READY, client.get(busy.getId()).getState(), "an exec runs there");

        // Resumed transparently: the caller sees only latency.
        assertEquals("kept\nalive\n", client.sh(idle.getId(), "cat /workspace/note; kill -0 " + pid + " && echo alive"));
        assertEquals(SandboxState.SANDBOX_STATE_READY, client.get(idle.getId()).getState());
        assertFalse(Files.exists(runtimeDir(idle.getId()).resolve("suspended")), "its state is gone once it runs");
        var outcome = running.await(Await.scaled(STATE_TIMEOUT));
        assertEquals("done\n", SandboxesIT.stdout(outcome.messages()), "the exec ran through, never suspended");

        // A detached process, and an Attach following it, keep a sandbox awake (a cancelled exec's process is killed,
        // so an attach needs a detached process to follow; the in-flight count alone is SandboxManagerTest's).
        var detached = client.start(busy.getId(), SandboxesIT.sh("sleep 10; echo attached-done").toBuilder()
                .setDetached(true).build()).await(Await.scaled(STATE_TIMEOUT));
        String processId = detached.messages().stream().filter(m -> m.getEvent().hasStarted()).findFirst().orElseThrow()
                .getEvent().getStarted().getProcessId();
        var attached = client.attachToEnd(busy.getId(), processId);
        assertTrue(attached.status().isOk(), "the attach followed the process to its end: " + attached.status());
        assertTrue(attached.messages().stream().anyMatch(m -> m.getEvent().hasOutput()
                && m.getEvent().getOutput().getData().toStringUtf8().contains("attached-done")), attached.messages().toString());
        assertEquals(SandboxState.SANDBOX_STATE_READY, client.get(busy.getId()).getState());

        // Idle again, then the daemon restarts: the suspended sandbox stays so and resumes on the next daemon's exec.
        awaitState(idle.getId(), SandboxState.SANDBOX_STATE_SUSPENDED);
        long busyActivity = client.get(busy.getId()).getLastActivityUnixMs();
        client.close();
        DaemonProcess previous = daemon;
        previous.close();
        daemon = previous.startSuccessor(work.resolve("successor.log"), daemonArgs(System.getProperty("kelpie.it.imageDir")));
        client = new SandboxClient(daemon.socket);
        assertEquals(SandboxState.SANDBOX_STATE_SUSPENDED, client.get(idle.getId()).getState());
        assertTrue(client.get(busy.getId()).getLastActivityUnixMs() >= busyActivity, "activity was kept");
        assertEquals("kept\nalive\n", client.sh(idle.getId(), "cat /workspace/note; kill -0 " + pid + " && echo alive"));
        assertTrue(client.get(idle.getId()).hasVmMemory(), "Get reports the VM process's memory");
        assertTrue(client.get(idle.getId()).getVmMemory().hasPssBytes(), "and its PSS (Linux)");

        // Memory the guest frees goes back to the host (virtio-balloon free-page reporting): 100 MB in tmpfs, removed,
        // while an exec in flight keeps the sandbox from its idle action.
        StreamCollector<ExecResponse> awake = client.start(idle.getId(), SandboxesIT.sh("sleep 60"));
        client.sh(idle.getId(), "mkdir -p /dev/shm; head -c " + FREED_BYTES + " /dev/zero > /dev/shm/big");
        long peak = client.get(idle.getId()).getVmMemory().getRssBytes();
        client.sh(idle.getId(), "rm /dev/shm/big");
        Await.until("the VM's RSS falls once the guest freed " + FREED_BYTES + " bytes", Await.scaled(STATE_TIMEOUT),
                () -> client.get(idle.getId()).getVmMemory().getRssBytes() < peak - FREED_BYTES / 2
                        && client.get(idle.getId()).getState() == SandboxState.SANDBOX_STATE_READY,
                () -> "peak " + peak + ", now " + client.get(idle.getId()));
        assertFalse(awake.isDone(), "the sleep still runs: " + awake.messages());
    }

    private static final long FREED_BYTES = 100_000_000;
}
