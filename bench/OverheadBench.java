// The daemon's own cost, without an emulator: the same agent binary run as a host process, called directly and
// through kelpied (whose "VM" is that agent behind the libkrun double and bench/host-agent-vmm.sh). Direct and daemon
// figures differ only by the daemon. Run through bench/overhead.sh; results go to docs/benchmarks.md.

import dev.kelpie.api.v1.Command;
import dev.kelpie.api.v1.CreateSandboxRequest;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.ExecRequest;
import dev.kelpie.api.v1.GetSandboxRequest;
import dev.kelpie.api.v1.ExecResponse;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.daemon.agent.AgentDialer;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import io.grpc.ManagedChannel;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

public class OverheadBench {

    static final int WARMUP_EXECS = 100;
    /** Direct and daemon alternate in rounds, so a burst of load from other work on the host hits both alike. */
    static final int ROUNDS = 5;
    static final int EXECS_PER_ROUND = 100;
    static final int THROUGHPUT_RUNS = 3;
    static final long THROUGHPUT_BYTES = 256L * 1024 * 1024;
    static final int CREATE_RUNS = 5;
    static final int COLD_MEMORY_MIB = 320;

    public static void main(String[] args) throws Exception {
        Path socket = Path.of(args[0]);
        Path agentBinary = Path.of(args[1]);
        Path scratch = Path.of(args[2]);
        boolean profileOnly = args.length > 3 && args[3].equals("--profile");
        UnixSocketChannels channels = new UnixSocketChannels();
        ManagedChannel daemon = channels.open(socket);
        var sandboxes = SandboxesGrpc.newBlockingStub(daemon);
        AgentDialer dialer = new AgentDialer(channels, d -> Thread.sleep(d));

        Process direct = startAgent(agentBinary, scratch.resolve("direct"));
        ManagedChannel agent = dialer.dial(scratch.resolve("direct/agent.sock"), Duration.ofSeconds(30));
        KelpieBench.awaitWarmVm(daemon);
        String id = sandboxes.create(CreateSandboxRequest.getDefaultInstance()).getSandbox().getId();

        for (int i = 0; i < WARMUP_EXECS; i++) {
            KelpieBench.agentExec(agent, "true");
            exec(daemon, id, "true");
        }
        if (profileOnly) {
            // A steady load for a JFR recording of the daemon: execs, then streams.
            long until = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (System.nanoTime() < until) {
                exec(daemon, id, "true");
            }
            for (int i = 0; i < 5; i++) {
                exec(daemon, id, "head -c " + THROUGHPUT_BYTES + " /dev/zero");
            }
            System.out.println("profile load done");
            System.exit(0);
        }
        // The sandbox's own agent, dialled directly beside the daemon's session: same process, no daemon.
        Path sandboxSocket;
        try (var files = Files.walk(scratch.resolve("state"))) {
            sandboxSocket = files.filter(f -> f.toString().contains(id) && f.getFileName().toString().endsWith(".sock")
                    && Files.exists(f.resolveSibling("host-agent"))).findFirst().orElseThrow();
        }
        ManagedChannel sandboxAgent = dialer.dial(sandboxSocket, Duration.ofSeconds(30));
        List<Double> sandboxAgentRt = new ArrayList<>();
        for (int i = 0; i < ROUNDS * EXECS_PER_ROUND; i++) {
            long s = System.nanoTime();
            KelpieBench.agentExec(sandboxAgent, "true");
            sandboxAgentRt.add(KelpieBench.ms(s));
        }
        List<Double> directRt = new ArrayList<>();
        List<Double> daemonRt = new ArrayList<>();
        for (int r = 0; r < ROUNDS; r++) {
            for (int i = 0; i < EXECS_PER_ROUND; i++) {
                long s = System.nanoTime();
                KelpieBench.agentExec(agent, "true");
                directRt.add(KelpieBench.ms(s));
            }
            for (int i = 0; i < EXECS_PER_ROUND; i++) {
                long s = System.nanoTime();
                exec(daemon, id, "true");
                daemonRt.add(KelpieBench.ms(s));
            }
        }
        // The floor of any call through the daemon: a unary call that touches no agent.
        List<Double> unary = new ArrayList<>();
        for (int i = 0; i < ROUNDS * EXECS_PER_ROUND; i++) {
            long s = System.nanoTime();
            sandboxes.get(GetSandboxRequest.newBuilder().setId(id).build());
            unary.add(KelpieBench.ms(s));
        }
        List<Double> directMbs = new ArrayList<>();
        List<Double> daemonMbs = new ArrayList<>();
        String stream = "head -c " + THROUGHPUT_BYTES + " /dev/zero";
        for (int r = 0; r < THROUGHPUT_RUNS; r++) {
            long s = System.nanoTime();
            long bytes = KelpieBench.agentExec(agent, stream);
            directMbs.add(bytes / 1e6 / (KelpieBench.ms(s) / 1000));
            s = System.nanoTime();
            bytes = exec(daemon, id, stream);
            daemonMbs.add(bytes / 1e6 / (KelpieBench.ms(s) / 1000));
        }
        sandboxes.delete(DeleteSandboxRequest.newBuilder().setId(id).build());

        List<Double> warm = new ArrayList<>();
        for (int i = 0; i < CREATE_RUNS; i++) {
            KelpieBench.awaitWarmVm(daemon);
            long t0 = System.nanoTime();
            var created = sandboxes.create(CreateSandboxRequest.getDefaultInstance()).getSandbox();
            exec(daemon, created.getId(), "true");
            warm.add(KelpieBench.ms(t0));
            if (!created.getFromPool()) {
                throw new IllegalStateException("the warm create was not served from the pool");
            }
            sandboxes.delete(DeleteSandboxRequest.newBuilder().setId(created.getId()).build());
        }
        List<Double> directCold = new ArrayList<>();
        List<Double> cold = new ArrayList<>();
        for (int i = 0; i < CREATE_RUNS; i++) {
            long t0 = System.nanoTime();
            Process p = startAgent(agentBinary, scratch.resolve("cold" + i));
            ManagedChannel c = dialer.dial(scratch.resolve("cold" + i + "/agent.sock"), Duration.ofSeconds(30));
            KelpieBench.agentExec(c, "true");
            directCold.add(KelpieBench.ms(t0));
            AgentDialer.close(c);
            p.destroy();
            p.waitFor();
            t0 = System.nanoTime();
            String coldId = sandboxes.create(CreateSandboxRequest.newBuilder()
                    .setSpec(SandboxSpec.newBuilder().setMemoryMib(COLD_MEMORY_MIB)).build()).getSandbox().getId();
            exec(daemon, coldId, "true");
            cold.add(KelpieBench.ms(t0));
            sandboxes.delete(DeleteSandboxRequest.newBuilder().setId(coldId).build());
        }

        System.out.println("| measurement | direct to the agent | through kelpied | difference | ratio |");
        System.out.println("|---|---|---|---|---|");
        row("exec round trip of `true`, p50 ms", KelpieBench.p(directRt, 50), KelpieBench.p(daemonRt, 50));
        row("exec round trip of `true`, p99 ms", KelpieBench.p(directRt, 99), KelpieBench.p(daemonRt, 99));
        row("(check) exec round trip of `true` directly on the sandbox's agent, p50 ms", KelpieBench.p(directRt, 50), KelpieBench.p(sandboxAgentRt, 50));
        row("unary call to the daemon (Sandboxes.Get, no agent call), p50 ms", Double.NaN, KelpieBench.p(unary, 50));
        row("stdout throughput (" + (THROUGHPUT_BYTES >> 20) + " MiB), median MB/s", KelpieBench.p(directMbs, 50), KelpieBench.p(daemonMbs, 50));
        row("warm-pool Create → first `true` exited, p50 ms", Double.NaN, KelpieBench.p(warm, 50));
        row("cold: agent start (daemon: Create, VM runner, agent) → first `true`, p50 ms", KelpieBench.p(directCold, 50), KelpieBench.p(cold, 50));
        System.out.printf(Locale.ROOT, "%n(%d×%d round trips each, alternating; throughput runs direct %s, daemon %s MB/s;"
                + " warm runs %s ms = %.1f× the daemon's exec p50; cold runs direct %s, daemon %s ms)%n",
                ROUNDS, EXECS_PER_ROUND, fmt(directMbs), fmt(daemonMbs), fmt(warm), KelpieBench.p(warm, 50) / KelpieBench.p(daemonRt, 50),
                fmt(directCold), fmt(cold));
        AgentDialer.close(agent);
        direct.destroy();
        daemon.shutdownNow();
        channels.close();
    }

    static Process startAgent(Path binary, Path dir) throws Exception {
        Files.createDirectories(dir.resolve("workspace"));
        Path version = Files.writeString(dir.resolve("kelpie-version"), "0.0.0-bench\n");
        return new ProcessBuilder(binary.toString(), "--listen", "unix:" + dir.resolve("agent.sock"), "--workspace",
                dir.resolve("workspace").toString(), "--image-version-file", version.toString(), "--generation-file",
                dir.resolve("generation").toString()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("agent.log").toFile()).start();
    }

    /** Like {@link KelpieBench#agentExec}, with the same kind of stub, so that the client's own cost is the same on both sides. */
    static long exec(ManagedChannel daemon, String id, String script) throws InterruptedException {
        var done = new CompletableFuture<Long>();
        long[] bytes = {0};
        SandboxesGrpc.newStub(daemon).exec(ExecRequest.newBuilder().setSandboxId(id)
                .setCommand(Command.newBuilder().addArgv("sh").addArgv("-c").addArgv(script)).build(),
                new StreamObserver<ExecResponse>() {
                    public void onNext(ExecResponse r) {
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
        try {
            return done.get();
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    static void row(String what, double direct, double daemon) {
        boolean none = Double.isNaN(direct);
        System.out.printf(Locale.ROOT, "| %s | %s | %.2f | %s | %s |%n", what, none ? "–" : String.format(Locale.ROOT, "%.2f", direct),
                daemon, none ? "–" : String.format(Locale.ROOT, "%+.2f", daemon - direct),
                none ? "–" : String.format(Locale.ROOT, "%.2f×", daemon / direct));
    }

    static String fmt(List<Double> values) {
        return values.stream().map(v -> String.format(Locale.ROOT, "%.1f", v)).toList().toString();
    }
}
