// Benchmark of checkpoint teleport across architectures: a checkpoint of a native guest restored → first exec as a
// native guest and as an emulated guest of the other arch (QEMU TCG), and cold create → first exec of each.
// Run through bench/run.sh IMAGE_DIR OTHER_ARCH_IMAGE_DIR after TeleportBench (same daemon); results go to
// docs/benchmarks.md.

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

public class CrossArchBench {

    static final int RUNS = 3;

    public static void main(String[] args) throws Exception {
        UnixSocketChannels channels = new UnixSocketChannels();
        ManagedChannel daemon = channels.open(Path.of(args[0]));
        String nativeArch = args[1];
        String otherArch = args[2];
        var sandboxes = SandboxesGrpc.newBlockingStub(daemon);
        var packages = PackagesGrpc.newBlockingStub(daemon);
        // The shape of TeleportBench: one the warm pool does not hold, so every boot is cold.
        SandboxSpec spec = SandboxSpec.newBuilder().setMemoryMib(TeleportBench.MEMORY_MIB).build();

        String source = sandboxes.create(CreateSandboxRequest.newBuilder().setSpec(spec).build()).getSandbox().getId();
        KelpieBench.exec(sandboxes, source, "head -c " + TeleportBench.WORKSPACE_MIB * 1024 * 1024
                + " /dev/urandom > /workspace/data && sync");
        PackageSummary pkg = sandboxes.snapshot(SnapshotRequest.newBuilder().setSandboxId(source)
                .setKind(SnapshotKind.SNAPSHOT_KIND_CHECKPOINT).setStopAfter(true).build()).getPackage();
        System.out.println("| " + nativeArch + " checkpoint onto | " + nativeArch + " (native) | " + otherArch
                + " (emulated) |");
        System.out.println("|---|---|---|");
        List<List<Double>> restores = new ArrayList<>();
        List<List<Double>> colds = new ArrayList<>();
        for (String arch : List.of(nativeArch, otherArch)) {
            List<Double> restore = new ArrayList<>();
            List<Double> cold = new ArrayList<>();
            for (int i = 0; i < RUNS; i++) {
                long r0 = System.nanoTime();
                String id = sandboxes.restore(RestoreRequest.newBuilder().setPackageId(pkg.getId())
                        .setSpecOverrides(SandboxSpec.newBuilder().setArch(arch)).build()).getSandbox().getId();
                KelpieBench.exec(sandboxes, id, "true");
                restore.add(KelpieBench.ms(r0));
                sandboxes.delete(DeleteSandboxRequest.newBuilder().setId(id).build());
                long c0 = System.nanoTime();
                String fresh = sandboxes.create(CreateSandboxRequest.newBuilder().setSpec(spec.toBuilder().setArch(arch))
                        .build()).getSandbox().getId();
                KelpieBench.exec(sandboxes, fresh, "true");
                cold.add(KelpieBench.ms(c0));
                sandboxes.delete(DeleteSandboxRequest.newBuilder().setId(fresh).build());
            }
            restores.add(restore);
            colds.add(cold);
        }
        packages.delete(DeletePackageRequest.newBuilder().setId(pkg.getId()).build());
        System.out.printf(Locale.ROOT, "| checkpoint restore → first `true` exited, p50 ms | %.0f | %.0f |%n",
                KelpieBench.p(restores.get(0), 50), KelpieBench.p(restores.get(1), 50));
        System.out.printf(Locale.ROOT, "| cold create → first `true` exited, p50 ms | %.0f | %.0f |%n",
                KelpieBench.p(colds.get(0), 50), KelpieBench.p(colds.get(1), 50));
        System.out.printf(Locale.ROOT, "| restore, ratio to the native restore | 1× | %.2f× |%n",
                KelpieBench.p(restores.get(1), 50) / KelpieBench.p(restores.get(0), 50));
        System.out.println();
        System.out.println("Runs: restores " + KelpieBench.fmt(restores.get(0)) + " / " + KelpieBench.fmt(restores.get(1))
                + " ms, cold creates " + KelpieBench.fmt(colds.get(0)) + " / " + KelpieBench.fmt(colds.get(1)) + " ms");
        daemon.shutdownNow();
        channels.close();
    }
}
