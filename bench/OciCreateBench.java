// Create → first exec of a sandbox from an OCI image against one on our minimal image (issue 20), on a daemon this
// bench starts with Debian's docker-registry on loopback as an insecure registry. Images: a busybox image made from
// Debian's busybox-static (2 MB), and the same with a 28 MB layer of random bytes (~30 MB). Per image: the first
// Create pulls the image and builds its root (cold), the next ones find both cached (warm). No warm pool: every
// Create boots a VM. Run by `bench/oci.sh --create IMAGE_DIR`; results go to docs/benchmarks.md.
//
//   java ... OciCreateBench.java KELPIED IMAGE_DIR SCRATCH

import dev.kelpie.api.v1.CreateSandboxRequest;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import dev.kelpie.daemon.images.oci.TestImagePusher;
import dev.kelpie.daemon.images.oci.TestRegistry;
import io.grpc.ManagedChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;

public class OciCreateBench {

    static final int WARM_RUNS = 5;
    static final int RANDOM_MIB = 28;
    static final long SOCKET_WAIT_MS = 60_000;

    public static void main(String[] args) throws Exception {
        Path kelpied = Path.of(args[0]);
        String imageDir = args[1];
        Path scratch = Path.of(args[2]);
        byte[] busybox = Files.readAllBytes(Path.of("/bin/busybox"));
        byte[] random = new byte[RANDOM_MIB << 20];
        new Random(20).nextBytes(random);
        TestImagePusher.Layer base = TestImagePusher.gzip(TestImagePusher.tar(tar -> {
            TestImagePusher.file(tar, "bin/busybox", 0755, busybox);
            for (String applet : List.of("sh", "true", "cat")) {
                TarArchiveEntry link = new TarArchiveEntry("bin/" + applet, TarArchiveEntry.LF_SYMLINK);
                link.setLinkName("busybox");
                tar.putArchiveEntry(link);
                tar.closeArchiveEntry();
            }
        }));
        TestImagePusher.Layer big = TestImagePusher.gzip(TestImagePusher.tar(tar -> TestImagePusher.file(tar,
                "opt/random.bin", 0644, random)));
        try (TestRegistry registry = TestRegistry.start(Files.createDirectories(scratch.resolve("registry")), "")) {
            TestImagePusher pusher = new TestImagePusher(registry.host(), null);
            pusher.pushImage("bench/busybox", "1", "amd64", List.of("PATH=/bin"), "/", List.of(base));
            pusher.pushImage("bench/busybox-30mb", "1", "amd64", List.of("PATH=/bin"), "/", List.of(base, big));
            Path socket = scratch.resolve("k.sock");
            ProcessBuilder start = new ProcessBuilder(kelpied.toString(), "-Dkelpie.images.dirs=" + imageDir,
                    "-Dkelpie.qemu.accelerator=tcg", "-Dkelpie.probe.boot-timeout=2s",
                    "-Dkelpie.images.oci.insecure-registries=" + registry.host())
                    .redirectErrorStream(true).redirectOutput(scratch.resolve("daemon.log").toFile());
            start.environment().put("KELPIE_STATE_DIR", scratch.resolve("state").toString());
            start.environment().put("KELPIE_API_SOCKET", socket.toString());
            Process daemon = start.start();
            try {
                long deadline = System.currentTimeMillis() + SOCKET_WAIT_MS;
                while (!Files.exists(socket) && System.currentTimeMillis() < deadline) {
                    Thread.sleep(100); // polling for the daemon's socket; not a measurement
                }
                UnixSocketChannels channels = new UnixSocketChannels();
                ManagedChannel channel = channels.open(socket);
                var sandboxes = SandboxesGrpc.newBlockingStub(channel);
                SandboxSpec spec = SandboxSpec.newBuilder().setVcpuCount(1).setMemoryMib(256).build();
                // One Create first: the daemon's JIT and the first QEMU start are nobody's cost below.
                KelpieBench.coldCreateToFirstExec(sandboxes, spec, 1);
                System.out.println("| image | first Create → first exec (pull + root build + boot) | then, root cached: "
                        + "median (min–max) of " + WARM_RUNS + " |");
                System.out.println("|---|---|---|");
                List<Double> minimal = KelpieBench.coldCreateToFirstExec(sandboxes, spec, WARM_RUNS);
                System.out.printf("| our minimal image | – | %s |%n", summary(minimal));
                for (String repo : List.of("bench/busybox", "bench/busybox-30mb")) {
                    SandboxSpec oci = spec.toBuilder().setOciImage(registry.host() + "/" + repo + ":1").build();
                    List<Double> first = KelpieBench.coldCreateToFirstExec(sandboxes, oci, 1);
                    List<Double> warm = KelpieBench.coldCreateToFirstExec(sandboxes, oci, WARM_RUNS);
                    System.out.printf("| OCI %s | %.0f ms | %s |%n", repo, first.get(0), summary(warm));
                }
                channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
                channels.close();
            } finally {
                daemon.destroy();
                if (!daemon.waitFor(30, TimeUnit.SECONDS)) {
                    daemon.destroyForcibly();
                }
            }
        }
    }

    static String summary(List<Double> values) {
        List<Double> sorted = new ArrayList<>(values);
        sorted.sort(null);
        return String.format("%.0f ms (%.0f–%.0f)", sorted.get(sorted.size() / 2), sorted.getFirst(), sorted.getLast());
    }
}
