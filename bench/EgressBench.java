// What the egress path costs a guest: per-request latency of small HTTP requests through the daemon's proxy (each one
// a new guest connection, so one socat process, one proxy connection and one upstream connection), and the throughput
// of one large download through it, against a server on this host that the sandbox's allowlist names. Run through
// bench/run.sh (same daemon); results go to docs/benchmarks.md ("Egress proxy").

import com.sun.net.httpserver.HttpServer;
import dev.kelpie.api.v1.CreateSandboxRequest;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.NetworkMode;
import dev.kelpie.api.v1.NetworkPolicy;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import io.grpc.ManagedChannel;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

public class EgressBench {

    static final int SMALL_REQUESTS = 30;
    static final int ROUNDS = 5;
    static final int LARGE_BYTES = 32 * 1024 * 1024;

    public static void main(String[] args) throws Exception {
        byte[] large = new byte[LARGE_BYTES];
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/small", x -> {
            x.sendResponseHeaders(200, 3);
            x.getResponseBody().write("ok\n".getBytes());
            x.close();
        });
        server.createContext("/large", x -> {
            x.sendResponseHeaders(200, large.length);
            x.getResponseBody().write(large);
            x.close();
        });
        server.start();
        int port = server.getAddress().getPort();
        UnixSocketChannels channels = new UnixSocketChannels();
        ManagedChannel daemon = channels.open(Path.of(args[0]));
        var sandboxes = SandboxesGrpc.newBlockingStub(daemon);
        String id = sandboxes.create(CreateSandboxRequest.newBuilder().setSpec(SandboxSpec.newBuilder()
                .setNetwork(NetworkPolicy.newBuilder().setMode(NetworkMode.NETWORK_MODE_EGRESS)
                        .addAllow("127.0.0.1:" + port))).build()).getSandbox().getId();
        String url = "http://127.0.0.1:" + port;
        String loop = "for i in $(seq " + SMALL_REQUESTS + "); do ";
        List<Double> perRequest = new ArrayList<>();
        List<Double> mibPerSecond = new ArrayList<>();
        try {
            KelpieBench.exec(sandboxes, id, "no_proxy= wget -q -O /dev/null " + url + "/small"); // first use
            for (int round = 0; round < ROUNDS; round++) {
                long t0 = System.nanoTime();
                KelpieBench.exec(sandboxes, id, loop + "true; done");
                double baseline = KelpieBench.ms(t0);
                long t1 = System.nanoTime();
                KelpieBench.exec(sandboxes, id, loop + "no_proxy= wget -q -O /dev/null " + url + "/small; done");
                perRequest.add((KelpieBench.ms(t1) - baseline) / SMALL_REQUESTS);
                long t2 = System.nanoTime();
                KelpieBench.exec(sandboxes, id, "no_proxy= wget -q -O /dev/null " + url + "/large");
                mibPerSecond.add(LARGE_BYTES / (1024.0 * 1024) / (KelpieBench.ms(t2) / 1000));
            }
        } finally {
            sandboxes.delete(DeleteSandboxRequest.newBuilder().setId(id).build());
            daemon.shutdownNow();
            channels.close();
            server.stop(0);
        }
        System.out.printf(Locale.ROOT, "| egress proxy, small HTTP request (new connection each) | %.1f ms median |"
                + " %.1f ms p90 |%n", KelpieBench.p(perRequest, 50), KelpieBench.p(perRequest, 90));
        System.out.printf(Locale.ROOT, "| egress proxy, one %d MiB download | %.1f MiB/s median | %.1f MiB/s worst |%n",
                LARGE_BYTES / (1024 * 1024), KelpieBench.p(mibPerSecond, 50), KelpieBench.p(mibPerSecond, 0));
    }
}
