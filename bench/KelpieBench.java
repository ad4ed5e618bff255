// Benchmark of kelpied against the raw path: the same qemu command line and a direct agent call.
// Run through bench/run.sh, which builds the classpath and passes the paths; results go to docs/benchmarks.md.

import dev.kelpie.agent.v1.AgentGrpc;
import dev.kelpie.api.v1.Command;
import dev.kelpie.api.v1.CreateSandboxRequest;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.ExecRequest;
import dev.kelpie.api.v1.ExecResponse;
import dev.kelpie.api.v1.HostGrpc;
import dev.kelpie.api.v1.HostInfoRequest;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.daemon.agent.AgentDialer;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import dev.kelpie.daemon.hypervisor.VmHandle;
import dev.kelpie.daemon.hypervisor.VmSpec;
import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import dev.kelpie.daemon.hypervisor.qemu.QemuHypervisor;
import dev.kelpie.daemon.images.BootImage;
import dev.kelpie.daemon.images.LocalImageDirectory;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.grpc.ManagedChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

public class KelpieBench {

    static final int COLD_RUNS = 3;
    static final int WARM_RUNS = 3;
    static final int ROUND_TRIPS = 100;
    static final long THROUGHPUT_BYTES = 64L * 1024 * 1024;

    public static void main(String[] args) throws Exception {
        Path socket = Path.of(args[0]);
        Path imageDir = Path.of(args[1]);
        Path scratch = Path.of(args[2]);
        String arch = args[3];
        UnixSocketChannels channels = new UnixSocketChannels();
        ManagedChannel daemon = channels.open(socket);
        var sandboxes = SandboxesGrpc.newBlockingStub(daemon);

        // --- raw baseline: the daemon's own qemu command line, driven without the daemon, and direct agent calls
        BootImage image = new LocalImageDirectory(List.of(imageDir), new ObjectMapper()).list().stream()
                .filter(i -> i.arch().equals(arch)).findFirst().orElseThrow();
        QemuHypervisor qemu = new QemuHypervisor(arch, a -> "qemu-system-" + a, () -> Accelerator.TCG, new ObjectMapper());
        AgentDialer dialer = new AgentDialer(channels, d -> Thread.sleep(d));
        List<Double> rawCold = new ArrayList<>();
        List<Double> rawRoundTrip = new ArrayList<>();
        double rawThroughput = 0;
        for (int i = 0; i < COLD_RUNS; i++) {
            Path dir = scratch.resolve("raw" + i);
            long t0 = System.nanoTime();
            VmHandle vm = qemu.boot(new VmSpec("raw" + i, dir, image, 1, 256, image.diskTemplateSizeMib()));
            ManagedChannel agent = dialer.dial(vm.record().agentSocket(), Duration.ofSeconds(120));
            agentExec(agent, "true");
            rawCold.add(ms(t0));
            if (i == 0) {
                for (int r = 0; r < ROUND_TRIPS; r++) {
                    long s = System.nanoTime();
                    agentExec(agent, "true");
                    rawRoundTrip.add(ms(s));
                }
                long s = System.nanoTime();
                long bytes = agentExec(agent, "head -c " + THROUGHPUT_BYTES + " /dev/zero");
                rawThroughput = bytes / 1e6 / (ms(s) / 1000);
            }
            AgentDialer.close(agent);
            vm.kill();
            vm.exited().get();
        }

        // --- through the daemon: cold creates use a shape the warm pool does not hold
        List<Double> cold = new ArrayList<>();
        for (int i = 0; i < COLD_RUNS; i++) {
            long t0 = System.nanoTime();
            String id = sandboxes.create(CreateSandboxRequest.newBuilder()
                    .setSpec(SandboxSpec.newBuilder().setMemoryMib(320)).build()).getSandbox().getId();
            exec(sandboxes, id, "true");
            cold.add(ms(t0));
            sandboxes.delete(DeleteSandboxRequest.newBuilder().setId(id).build());
        }
        List<Double> warm = new ArrayList<>();
        List<Double> roundTrip = new ArrayList<>();
        double throughput = 0;
        for (int i = 0; i < WARM_RUNS; i++) {
            awaitWarmVm(daemon);
            long t0 = System.nanoTime();
            var created = sandboxes.create(CreateSandboxRequest.getDefaultInstance()).getSandbox();
            exec(sandboxes, created.getId(), "true");
            warm.add(ms(t0));
            if (!created.getFromPool()) {
                throw new IllegalStateException("the warm create was not served from the pool");
            }
            if (i == 0) {
                for (int r = 0; r < ROUND_TRIPS; r++) {
                    long s = System.nanoTime();
                    exec(sandboxes, created.getId(), "true");
                    roundTrip.add(ms(s));
                }
                long s = System.nanoTime();
                long bytes = exec(sandboxes, created.getId(), "head -c " + THROUGHPUT_BYTES + " /dev/zero");
                throughput = bytes / 1e6 / (ms(s) / 1000);
            }
            sandboxes.delete(DeleteSandboxRequest.newBuilder().setId(created.getId()).build());
        }

        System.out.println("| measurement | raw (qemu + direct agent call) | through kelpied | ratio |");
        System.out.println("|---|---|---|---|");
        row("cold start → first `true` exited, p50 ms", p(rawCold, 50), p(cold, 50));
        row("warm-pool Create → first `true` exited, p50 ms", Double.NaN, p(warm, 50));
        row("exec round trip of `true`, p50 ms", p(rawRoundTrip, 50), p(roundTrip, 50));
        row("exec round trip of `true`, p99 ms", p(rawRoundTrip, 99), p(roundTrip, 99));
        row("stdout throughput, MB/s", rawThroughput, throughput);
        System.out.printf(Locale.ROOT, "%n(cold runs: raw %s, daemon %s; warm runs %s; %d round trips; %d MiB streamed)%n",
                fmt(rawCold), fmt(cold), fmt(warm), ROUND_TRIPS, THROUGHPUT_BYTES >> 20);
        daemon.shutdownNow();
        channels.close();
    }

    static void awaitWarmVm(ManagedChannel daemon) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
        while (HostGrpc.newBlockingStub(daemon).info(HostInfoRequest.getDefaultInstance()).getWarmPools(0).getReady() < 1) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the warm pool did not refill within 3 minutes");
            }
            Thread.sleep(100);
        }
    }

    static long exec(SandboxesGrpc.SandboxesBlockingStub stub, String id, String script) {
        Iterator<ExecResponse> events = stub.exec(ExecRequest.newBuilder().setSandboxId(id)
                .setCommand(Command.newBuilder().addArgv("sh").addArgv("-c").addArgv(script)).build());
        long bytes = 0;
        while (events.hasNext()) {
            var e = events.next().getEvent();
            if (e.hasOutput()) {
                bytes += e.getOutput().getData().size();
            }
        }
        return bytes;
    }

    static long agentExec(ManagedChannel agent, String script) throws InterruptedException {
        var done = new java.util.concurrent.CompletableFuture<Long>();
        long[] bytes = {0};
        var requests = AgentGrpc.newStub(agent).exec(new io.grpc.stub.StreamObserver<dev.kelpie.agent.v1.ExecResponse>() {
            public void onNext(dev.kelpie.agent.v1.ExecResponse r) {
                if (r.getEvent().hasOutput()) {
                    bytes[0] += r.getEvent().getOutput().getData().size();
                }
            }

            public void onError(Throwable t) {
                done.completeExceptionally(t);
            }

            public void onCompleted() {
                done.complete(bytes[0]);
            }
        });
        requests.onNext(dev.kelpie.agent.v1.ExecRequest.newBuilder().setStart(dev.kelpie.agent.v1.ExecStart.newBuilder()
                .addArgv("sh").addArgv("-c").addArgv(script)).build());
        requests.onCompleted();
        try {
            return done.get();
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    /** Create → first `true` exited, {@code runs} times, each sandbox deleted after; in ms. */
    static List<Double> coldCreateToFirstExec(SandboxesGrpc.SandboxesBlockingStub stub, dev.kelpie.api.v1.SandboxSpec spec,
            int runs) {
        List<Double> times = new ArrayList<>();
        for (int i = 0; i < runs; i++) {
            long t0 = System.nanoTime();
            String id = stub.create(dev.kelpie.api.v1.CreateSandboxRequest.newBuilder().setSpec(spec).build())
                    .getSandbox().getId();
            exec(stub, id, "true");
            times.add(ms(t0));
            stub.delete(dev.kelpie.api.v1.DeleteSandboxRequest.newBuilder().setId(id).build());
        }
        return times;
    }

    static double ms(long startNanos) {
        return (System.nanoTime() - startNanos) / 1e6;
    }

    static double p(List<Double> values, int percentile) {
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        int index = (int) Math.ceil(percentile / 100.0 * sorted.size()) - 1;
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, index)));
    }

    static void row(String what, double raw, double daemon) {
        System.out.printf(Locale.ROOT, "| %s | %s | %.1f | %s |%n", what, Double.isNaN(raw) ? "–" : String.format(Locale.ROOT, "%.1f", raw),
                daemon, Double.isNaN(raw) ? "–" : String.format(Locale.ROOT, "%.2f×", daemon / raw));
    }

    static String fmt(List<Double> values) {
        return values.stream().map(v -> String.format(Locale.ROOT, "%.0f", v)).toList().toString();
    }
}
