// Benchmark of how fork copies hold the source's memory (ADR 0032, second amendment): on QEMU >= 8.2 they map the
// frozen RAM file read-only and private and share every page none of them wrote; on QEMU 7.2 each gets its own sparse
// copy of it. Run it once per QEMU (the daemon takes qemu-system-<arch> from PATH, or kelpie.qemu.binary) and put the
// two tables side by side: N=3 copies of a 256 MiB guest whose page cache holds 128 MiB, their RSS and PSS, what the
// RAM directory holds, and the host's cost (the VMs' private pages plus the RAM directory, each inode once); and
// fork → first exec in the copy against cold create → first exec, measured in the same run.
// Run through bench/run.sh after ForkBench (same daemon); results go to docs/benchmarks.md.
//
//   java ... ForkSharingBench.java SOCKET STATE_DIR

import dev.kelpie.api.v1.CreateSandboxRequest;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.ForkSandboxRequest;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import io.grpc.ManagedChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

public class ForkSharingBench {

    /**
     * Within the guest's user memory limit (256 MiB less the 64 reserved), so the whole file stays in the page cache and
     * reading it back is a read of memory: with 200 MiB the guest trims its cache and re-reads from disk into pages of
     * its own, which no mapping can share.
     */
    static final int TOUCHED_MIB = 128;
    static final int COPIES = 3;

    public static void main(String[] args) throws Exception {
        UnixSocketChannels channels = new UnixSocketChannels();
        ManagedChannel daemon = channels.open(Path.of(args[0]));
        Path vms = Path.of(args[1]).resolve("vms");
        var sandboxes = SandboxesGrpc.newBlockingStub(daemon);
        // ForkBench's guest shape and run count, so that the two benches' fork times compare.
        SandboxSpec spec = SandboxSpec.newBuilder().setMemoryMib(ForkBench.MEMORY_MIB).setVcpuCount(1).build();
        List<Double> cold = KelpieBench.coldCreateToFirstExec(sandboxes, spec, ForkBench.RUNS);
        String source = sandboxes.create(CreateSandboxRequest.newBuilder().setSpec(spec).build()).getSandbox().getId();
        // Page cache of random data: guest RAM touched, as a workload's heap would be.
        KelpieBench.exec(sandboxes, source, "head -c " + TOUCHED_MIB * 1024 * 1024 + " /dev/urandom > /workspace/big");
        List<Double> forks = ForkBench.forkToFirstExec(sandboxes, source, ForkBench.RUNS);

        List<String> copies = sandboxes.fork(ForkSandboxRequest.newBuilder().setId(source).setCount(COPIES).build())
                .getSandboxesList().stream().map(Sandbox::getId).toList();
        List<String> all = new ArrayList<>(copies);
        all.add(0, source);
        for (String copy : copies) {
            KelpieBench.exec(sandboxes, copy, "true");
        }
        Memory ran = Memory.of(vms, source, all);
        // Every copy reads the whole file back from its page cache: each maps all the frozen pages.
        for (String copy : copies) {
            KelpieBench.exec(sandboxes, copy, "md5sum /workspace/big > /dev/null");
        }
        Memory read = Memory.of(vms, source, all);
        String mapping = Files.readString(Path.of("/proc", pid(vms, copies.get(0)), "cmdline")).contains("share=off,readonly=on,rom=off")
                ? "read-only private mapping of the frozen file" : "own sparse copy of the frozen file";
        for (String id : all) {
            sandboxes.delete(DeleteSandboxRequest.newBuilder().setId(id).build());
        }

        double coldP50 = KelpieBench.p(cold, 50);
        double forkP50 = KelpieBench.p(forks, 50);
        System.out.println("copies: " + mapping);
        System.out.println("| measurement (source + " + COPIES + " copies) | after `true` | after each copy read the "
                + TOUCHED_MIB + " MiB |");
        System.out.println("|---|---|---|");
        ran.row("RSS, sum of the 4 VMs, MiB", read, Memory::rssKib);
        ran.row("PSS, sum of the 4 VMs, MiB", read, Memory::pssKib);
        ran.row("PSS of the copies alone, MiB", read, Memory::copiesPssKib);
        ran.row("RAM directory (each inode once), MiB", read, Memory::ramDirKib);
        ran.row("host cost: private (anonymous) pages of the 4 VMs + RAM directory, MiB", read, Memory::hostKib);
        System.out.printf(Locale.ROOT, "%nfork (1 copy) → first `true`, p50 ms: %.0f vs cold create → first `true` %.0f"
                + " (%.2f×); runs: fork %s, cold %s%n", forkP50, coldP50, forkP50 / coldP50, KelpieBench.fmt(forks),
                KelpieBench.fmt(cold));
        daemon.shutdownNow();
        channels.close();
    }

    record Memory(long rssKib, long pssKib, long copiesPssKib, long anonKib, long ramDirKib) {

        static Memory of(Path vms, String source, List<String> ids) throws Exception {
            long rss = 0;
            long pss = 0;
            long copiesPss = 0;
            long anon = 0;
            for (String id : ids) {
                rss += ForkBench.smapsKib(vms, id, "Rss");
                long p = ForkBench.smapsKib(vms, id, "Pss");
                pss += p;
                copiesPss += id.equals(source) ? 0 : p;
                anon += ForkBench.smapsKib(vms, id, "Pss_Anon");
            }
            return new Memory(rss, pss, copiesPss, anon, ForkBench.ramDirKib(vms, source));
        }

        long hostKib() {
            return anonKib + ramDirKib;
        }

        void row(String what, Memory later, java.util.function.ToLongFunction<Memory> value) {
            System.out.printf(Locale.ROOT, "| %s | %.0f | %.0f |%n", what, value.applyAsLong(this) / 1024.0,
                    value.applyAsLong(later) / 1024.0);
        }
    }

    static String pid(Path vms, String id) throws Exception {
        return Files.readString(vms.resolve(id).resolve("qemu.pid")).strip();
    }
}
