// The daemon's start and memory: start → first answered Health, idle RSS, and RSS with sandboxes, for one set of JVM
// options. Run through bench/footprint.sh (host-process agents behind the libkrun double, like bench/overhead.sh).

import dev.kelpie.api.v1.CreateSandboxRequest;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

public class FootprintBench {

    static final int SANDBOXES = 10;
    static final long IDLE_SETTLE_MS = 10_000;

    public static void main(String[] args) throws Exception {
        Path socket = Path.of(args[0]);
        Path log = Path.of(args[1]);
        List<String> command = List.of(args).subList(2, args.length);
        UnixSocketChannels channels = new UnixSocketChannels();
        long t0 = System.nanoTime();
        Process daemon = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            while (!Files.exists(socket)) {
                if (!daemon.isAlive()) {
                    throw new IllegalStateException("the daemon ended; see " + log);
                }
                Thread.sleep(5);
            }
            ManagedChannel channel = channels.open(socket);
            while (true) {
                try {
                    if (HealthGrpc.newBlockingStub(channel).withDeadlineAfter(1, TimeUnit.SECONDS)
                            .check(HealthCheckRequest.getDefaultInstance()).getStatus() == ServingStatus.SERVING) {
                        break;
                    }
                    Thread.sleep(5);
                } catch (io.grpc.StatusRuntimeException e) {
                    Thread.sleep(5);
                }
            }
            double startMs = (System.nanoTime() - t0) / 1e6;
            Thread.sleep(IDLE_SETTLE_MS);
            long idle = rssKib(daemon.pid());
            var sandboxes = SandboxesGrpc.newBlockingStub(channel);
            for (int i = 0; i < SANDBOXES; i++) {
                sandboxes.create(CreateSandboxRequest.getDefaultInstance());
            }
            Thread.sleep(IDLE_SETTLE_MS);
            long withSandboxes = rssKib(daemon.pid());
            System.out.printf(Locale.ROOT, "start → first Health %.0f ms; idle RSS %.1f MiB; RSS with %d sandboxes %.1f MiB%n",
                    startMs, idle / 1024.0, SANDBOXES, withSandboxes / 1024.0);
            channel.shutdownNow();
        } finally {
            daemon.destroy();
            daemon.waitFor(20, TimeUnit.SECONDS);
            channels.close();
        }
    }

    static long rssKib(long pid) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IllegalStateException("no VmRSS for " + pid);
    }
}
