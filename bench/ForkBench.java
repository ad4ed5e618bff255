// Benchmark of Fork (ADR 0032): fork → first exec in the copy against cold create → first exec, and the memory of
// 10 copies of a sandbox that touched most of its RAM: total PSS of the 11 qemu processes against 11 × the source's,
// beside what the RAM directory holds (the frozen file's pages that no copy touched are in no process's PSS); and a vm
// package's first restore on the host (which freezes its memory) against the next ones (which map it) and cold.
// Run through bench/run.sh after TeleportBench (same daemon); results go to docs/benchmarks.md.
//
//   java ... ForkBench.java SOCKET STATE_DIR

import dev.kelpie.api.v1.CreateSandboxRequest;
import dev.kelpie.api.v1.DeletePackageRequest;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.ForkSandboxRequest;
import dev.kelpie.api.v1.PackagesGrpc;
import dev.kelpie.api.v1.RestoreRequest;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.api.v1.SnapshotKind;
import dev.kelpie.api.v1.SnapshotRequest;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import io.grpc.ManagedChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

public class ForkBench {

    static final int RUNS = 5;
    /** Run with no warm pool (or one of another shape): every create boots cold. */
    static final int MEMORY_MIB = 256;
    static final int TOUCHED_MIB = 200;
    static final int COPIES = 10;

    public static void main(String[] args) throws Exception {
        UnixSocketChannels channels = new UnixSocketChannels();
        ManagedChannel daemon = channels.open(Path.of(args[0]));
        Path vms = Path.of(args[1]).resolve("vms");
        var sandboxes = SandboxesGrpc.newBlockingStub(daemon);
        SandboxSpec spec = SandboxSpec.newBuilder().setMemoryMib(MEMORY_MIB).setVcpuCount(1).build();

        List<Double> cold = KelpieBench.coldCreateToFirstExec(sandboxes, spec, RUNS);
        String source = sandboxes.create(CreateSandboxRequest.newBuilder().setSpec(spec).build()).getSandbox().getId();
        List<Double> forks = forkToFirstExec(sandboxes, source, RUNS);

        // Page cache of random data: guest RAM touched, as a workload's heap would be.
        KelpieBench.exec(sandboxes, source, "head -c " + TOUCHED_MIB * 1024 * 1024 + " /dev/urandom > /workspace/big");
        long sourcePss = pssKib(vms, source);
        long t0 = System.nanoTime();
        List<String> copies = sandboxes.fork(ForkSandboxRequest.newBuilder().setId(source).setCount(COPIES).build())
                .getSandboxesList().stream().map(Sandbox::getId).toList();
        double forkTenMs = KelpieBench.ms(t0);
        for (String copy : copies) {
            KelpieBench.exec(sandboxes, copy, "true");
        }
        long total = totalPssKib(vms, source, copies);
        long ramDirKib = ramDirKib(vms, source);
        // The worst case: every copy reads the whole file back, which the guest partly re-reads from its disk (its
        // page cache was trimmed to its cgroup limit), so those pages become each copy's own.
        for (String copy : copies) {
            KelpieBench.exec(sandboxes, copy, "md5sum /workspace/big > /dev/null");
        }
        long totalAfterReads = totalPssKib(vms, source, copies);
        for (String id : copies) {
            sandboxes.delete(DeleteSandboxRequest.newBuilder().setId(id).build());
        }
        sandboxes.delete(DeleteSandboxRequest.newBuilder().setId(source).build());

        String packaged = sandboxes.create(CreateSandboxRequest.newBuilder().setSpec(spec).build()).getSandbox().getId();
        KelpieBench.exec(sandboxes, packaged, "head -c 8388608 /dev/urandom > /workspace/data && sync");
        String pkg = sandboxes.snapshot(SnapshotRequest.newBuilder().setSandboxId(packaged)
                .setKind(SnapshotKind.SNAPSHOT_KIND_VM).setStopAfter(true).build()).getPackage().getId();
        List<Double> restores = new ArrayList<>();
        for (int i = 0; i < RUNS; i++) {
            long r0 = System.nanoTime();
            String id = sandboxes.restore(RestoreRequest.newBuilder().setPackageId(pkg).build()).getSandbox().getId();
            KelpieBench.exec(sandboxes, id, "true");
            restores.add(KelpieBench.ms(r0));
            sandboxes.delete(DeleteSandboxRequest.newBuilder().setId(id).build());
        }
        PackagesGrpc.newBlockingStub(daemon).delete(DeletePackageRequest.newBuilder().setId(pkg).build());
        double firstRestore = restores.get(0);
        double laterRestores = KelpieBench.p(restores.subList(1, restores.size()), 50);

        double coldP50 = KelpieBench.p(cold, 50);
        double forkP50 = KelpieBench.p(forks, 50);
        System.out.println("| measurement | value | target |");
        System.out.println("|---|---|---|");
        System.out.printf(Locale.ROOT, "| cold create → first `true` exited, p50 ms | %.0f | – |%n", coldP50);
        System.out.printf(Locale.ROOT, "| fork (1 copy) → first `true` exited in the copy, p50 ms | %.0f (%.2f×) | ≤ 0.15× cold |%n",
                forkP50, forkP50 / coldP50);
        System.out.printf(Locale.ROOT, "| fork of %d copies of a %d MiB guest that touched %d MiB, ms | %.0f | – |%n",
                COPIES, MEMORY_MIB, TOUCHED_MIB, forkTenMs);
        System.out.printf(Locale.ROOT, "| PSS of the source, MiB | %.0f | – |%n", sourcePss / 1024.0);
        System.out.printf(Locale.ROOT, "| total PSS of the 11 VMs after the copies ran a command vs 11 × the source's, MiB"
                + " | %.0f vs %.0f (%.2f×) | ≤ 0.35× |%n", total / 1024.0, 11 * sourcePss / 1024.0,
                total / (11.0 * sourcePss));
        System.out.printf(Locale.ROOT, "| the same after every copy read the whole %d MiB file, MiB | %.0f (%.2f×) | – |%n",
                TOUCHED_MIB, totalAfterReads / 1024.0, totalAfterReads / (11.0 * sourcePss));
        System.out.printf(Locale.ROOT, "| RAM directory (source's file + the frozen one, each inode once), MiB | %.0f | – |%n",
                ramDirKib / 1024.0);
        System.out.printf(Locale.ROOT, "| vm package restore → first `true`, first on the host (streams and freezes), ms | %.0f (%.2f×) | – |%n",
                firstRestore, firstRestore / coldP50);
        System.out.printf(Locale.ROOT, "| vm package restore → first `true`, later ones (map the frozen memory), p50 ms | %.0f (%.2f×) | ≤ 0.2× cold |%n",
                laterRestores, laterRestores / coldP50);
        System.out.println();
        System.out.println("Runs: cold " + KelpieBench.fmt(cold) + " ms, fork → first exec " + KelpieBench.fmt(forks) + " ms, vm restores "
                + KelpieBench.fmt(restores) + " ms.");
        daemon.shutdownNow();
        channels.close();
    }

    static long totalPssKib(Path vms, String source, List<String> copies) throws Exception {
        long total = pssKib(vms, source);
        for (String copy : copies) {
            total += pssKib(vms, copy);
        }
        return total;
    }

    /** Fork (1 copy) → first `true` exited in the copy, {@code runs} times, each copy deleted after; in ms. */
    static List<Double> forkToFirstExec(SandboxesGrpc.SandboxesBlockingStub sandboxes, String source, int runs) {
        List<Double> forks = new ArrayList<>();
        for (int i = 0; i < runs; i++) {
            long t0 = System.nanoTime();
            String copy = sandboxes.fork(ForkSandboxRequest.newBuilder().setId(source).setCount(1).build())
                    .getSandboxes(0).getId();
            KelpieBench.exec(sandboxes, copy, "true");
            forks.add(KelpieBench.ms(t0));
            sandboxes.delete(DeleteSandboxRequest.newBuilder().setId(copy).build());
        }
        return forks;
    }

    /** Proportional set size of a sandbox's qemu: shared pages divided among their mappers. */
    static long pssKib(Path vms, String id) throws Exception {
        return smapsKib(vms, id, "Pss");
    }

    /** A field of the smaps_rollup of a sandbox's qemu, in KiB. */
    static long smapsKib(Path vms, String id, String field) throws Exception {
        long pid = Long.parseLong(Files.readString(vms.resolve(id).resolve("qemu.pid")).strip());
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "smaps_rollup"))) {
            if (line.startsWith(field + ":")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IllegalStateException("no " + field + " for qemu " + pid);
    }

    /** What the RAM directory holds on the host (du counts a hard-linked inode once). */
    static long ramDirKib(Path vms, String id) throws Exception {
        String mapped = Files.readString(Path.of("/proc", Files.readString(vms.resolve(id).resolve("qemu.pid")).strip(),
                "cmdline")).replace('\0', ' ');
        int at = mapped.indexOf("mem-path=");
        Path dir = Path.of(mapped.substring(at + "mem-path=".length()).split("[, ]")[0]).getParent();
        Process du = new ProcessBuilder("du", "-sk", dir.toString()).start();
        String out = new String(du.getInputStream().readAllBytes());
        du.waitFor();
        return Long.parseLong(out.split("\\s+")[0]);
    }
}
