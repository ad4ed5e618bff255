// Benchmark of idle actions (ADR 0029): the latency an idle pause or suspend adds to the next exec, against an exec on
// a READY sandbox, and a suspended sandbox's resume → first exec against cold boot → first exec.
// Run through bench/run.sh (its daemon looks for idle sandboxes every second); results go to docs/benchmarks.md.

import dev.kelpie.api.v1.CreateSandboxRequest;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.GetSandboxRequest;
import dev.kelpie.api.v1.IdleAction;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxState;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import io.grpc.ManagedChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

public class IdleBench {

    static final int RUNS = 5;
    /** A shape the warm pool does not hold, so the cold creates boot. */
    static final int MEMORY_MIB = 320;
    static final long IDLE_TIMEOUT_MS = 1_000;
    static final long STATE_WAIT_MS = 60_000;

    public static void main(String[] args) throws Exception {
        UnixSocketChannels channels = new UnixSocketChannels();
        ManagedChannel daemon = channels.open(Path.of(args[0]));
        var sandboxes = SandboxesGrpc.newBlockingStub(daemon);

        List<Double> cold = KelpieBench.coldCreateToFirstExec(sandboxes,
                SandboxSpec.newBuilder().setMemoryMib(MEMORY_MIB).build(), RUNS);
        System.out.println("| measurement | pause | snapshot (suspend) | cold boot |");
        System.out.println("|---|---|---|---|");
        IdleAction[] actions = {IdleAction.IDLE_ACTION_PAUSE, IdleAction.IDLE_ACTION_SNAPSHOT};
        SandboxState[] idled = {SandboxState.SANDBOX_STATE_PAUSED, SandboxState.SANDBOX_STATE_SUSPENDED};
        List<List<Double>> resumed = List.of(new ArrayList<>(), new ArrayList<>());
        List<List<Double>> ready = List.of(new ArrayList<>(), new ArrayList<>());
        for (int a = 0; a < actions.length; a++) {
            String id = sandboxes.create(CreateSandboxRequest.newBuilder().setSpec(SandboxSpec.newBuilder()
                    .setMemoryMib(MEMORY_MIB).setIdleTimeoutMs(IDLE_TIMEOUT_MS).setIdleAction(actions[a])).build())
                    .getSandbox().getId();
            for (int i = 0; i < RUNS; i++) {
                awaitState(sandboxes, id, idled[a]);
                long t0 = System.nanoTime();
                KelpieBench.exec(sandboxes, id, "true");
                resumed.get(a).add(KelpieBench.ms(t0));
                long t1 = System.nanoTime();
                KelpieBench.exec(sandboxes, id, "true"); // READY now: the baseline, back to back
                ready.get(a).add(KelpieBench.ms(t1));
            }
            sandboxes.delete(DeleteSandboxRequest.newBuilder().setId(id).build());
        }
        double coldP50 = KelpieBench.p(cold, 50);
        System.out.printf(Locale.ROOT, "| idled → first `true` exited, p50 ms | %.0f | %.0f | %.0f |%n",
                KelpieBench.p(resumed.get(0), 50), KelpieBench.p(resumed.get(1), 50), coldP50);
        System.out.printf(Locale.ROOT, "| exec of `true` on READY, p50 ms | %.0f | %.0f | – |%n",
                KelpieBench.p(ready.get(0), 50), KelpieBench.p(ready.get(1), 50));
        System.out.printf(Locale.ROOT, "| added latency of resume on use, p50 ms | %.0f | %.0f | – |%n",
                KelpieBench.p(resumed.get(0), 50) - KelpieBench.p(ready.get(0), 50),
                KelpieBench.p(resumed.get(1), 50) - KelpieBench.p(ready.get(1), 50));
        System.out.printf(Locale.ROOT, "| ratio to cold boot → first `true` | %.2f× | %.2f× | 1× |%n",
                KelpieBench.p(resumed.get(0), 50) / coldP50, KelpieBench.p(resumed.get(1), 50) / coldP50);
        System.out.println();
        System.out.println("Runs: cold " + KelpieBench.fmt(cold) + " ms, after pause " + KelpieBench.fmt(resumed.get(0))
                + " ms, after suspend " + KelpieBench.fmt(resumed.get(1)) + " ms. Target (issue 19): local"
                + " snapshot-resume → first exec ≤ 0.15× cold boot; pause → resume on exec: report p50.");
        daemon.shutdownNow();
        channels.close();
    }

    private static void awaitState(SandboxesGrpc.SandboxesBlockingStub sandboxes, String id, SandboxState state)
            throws InterruptedException {
        long deadline = System.currentTimeMillis() + STATE_WAIT_MS;
        while (sandboxes.get(GetSandboxRequest.newBuilder().setId(id).build()).getSandbox().getState() != state) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("sandbox " + id + " did not become " + state);
            }
            Thread.sleep(50);
        }
    }
}
