// Benchmark of teleport: snapshot time and size per kind, and restore → first exec against cold boot → first exec.
// Run through bench/run.sh after KelpieBench (same daemon); results go to docs/benchmarks.md.

import dev.kelpie.api.v1.CreateSandboxRequest;
import dev.kelpie.api.v1.DeletePackageRequest;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.PackageSummary;
import dev.kelpie.api.v1.PackagesGrpc;
import dev.kelpie.api.v1.RestoreRequest;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.api.v1.SnapshotKind;
import dev.kelpie.api.v1.SnapshotRequest;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import io.grpc.ManagedChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

public class TeleportBench {

    static final int RUNS = 3;
    /** A shape the warm pool does not hold, so every create and checkpoint restore boots cold. */
    static final int MEMORY_MIB = 320;
    /** Workspace data written before each snapshot. */
    static final int WORKSPACE_MIB = 8;

    public static void main(String[] args) throws Exception {
        UnixSocketChannels channels = new UnixSocketChannels();
        ManagedChannel daemon = channels.open(Path.of(args[0]));
        var sandboxes = SandboxesGrpc.newBlockingStub(daemon);
        var packages = PackagesGrpc.newBlockingStub(daemon);
        SandboxSpec spec = SandboxSpec.newBuilder().setMemoryMib(MEMORY_MIB).build();

        List<Double> cold = KelpieBench.coldCreateToFirstExec(sandboxes, spec, RUNS);
        System.out.println("| measurement | checkpoint | vm | cold boot |");
        System.out.println("|---|---|---|---|");
        double[] snapshotMs = new double[2];
        long[] sizes = new long[2];
        List<List<Double>> restores = List.of(new ArrayList<>(), new ArrayList<>());
        SnapshotKind[] kinds = {SnapshotKind.SNAPSHOT_KIND_CHECKPOINT, SnapshotKind.SNAPSHOT_KIND_VM};
        for (int k = 0; k < kinds.length; k++) {
            String source = sandboxes.create(CreateSandboxRequest.newBuilder().setSpec(spec).build()).getSandbox().getId();
            KelpieBench.exec(sandboxes, source, "head -c " + WORKSPACE_MIB * 1024 * 1024
                    + " /dev/urandom > /workspace/data && sync");
            long t0 = System.nanoTime();
            PackageSummary pkg = sandboxes.snapshot(SnapshotRequest.newBuilder().setSandboxId(source).setKind(kinds[k])
                    .build()).getPackage();
            snapshotMs[k] = KelpieBench.ms(t0);
            sizes[k] = pkg.getSizeBytes();
            sandboxes.delete(DeleteSandboxRequest.newBuilder().setId(source).build());
            for (int i = 0; i < RUNS; i++) {
                long r0 = System.nanoTime();
                String id = sandboxes.restore(RestoreRequest.newBuilder().setPackageId(pkg.getId()).build())
                        .getSandbox().getId();
                KelpieBench.exec(sandboxes, id, "true");
                restores.get(k).add(KelpieBench.ms(r0));
                sandboxes.delete(DeleteSandboxRequest.newBuilder().setId(id).build());
            }
            packages.delete(DeletePackageRequest.newBuilder().setId(pkg.getId()).build());
        }
        double coldP50 = KelpieBench.p(cold, 50);
        System.out.printf(Locale.ROOT, "| snapshot time (%d MiB workspace, %d MiB guest), ms | %.0f | %.0f | – |%n",
                WORKSPACE_MIB, MEMORY_MIB, snapshotMs[0], snapshotMs[1]);
        System.out.printf(Locale.ROOT, "| package size, MB | %.1f | %.1f | – |%n", sizes[0] / 1e6, sizes[1] / 1e6);
        System.out.printf(Locale.ROOT, "| restore (or create) → first `true` exited, p50 ms | %.0f | %.0f | %.0f |%n",
                KelpieBench.p(restores.get(0), 50), KelpieBench.p(restores.get(1), 50), coldP50);
        System.out.printf(Locale.ROOT, "| ratio to cold boot | %.2f× | %.2f× | 1× |%n",
                KelpieBench.p(restores.get(0), 50) / coldP50, KelpieBench.p(restores.get(1), 50) / coldP50);
        System.out.println();
        System.out.println("Runs: cold " + KelpieBench.fmt(cold) + " ms, checkpoint restores "
                + KelpieBench.fmt(restores.get(0)) + " ms, vm restores " + KelpieBench.fmt(restores.get(1))
                + " ms. Target: vm restore → first exec ≤ 0.5× cold boot → first exec.");
        daemon.shutdownNow();
        channels.close();
    }
}
