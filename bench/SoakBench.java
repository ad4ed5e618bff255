// Soak of kelpied for leaks: sandboxes side by side running execs and file transfers, then deleted; the daemon's live
// threads, open file descriptors and heap after a full GC, before and after. The same workload as SoakIT (which
// asserts the bounds), longer. Run through bench/run.sh after TeleportBench (same daemon); results go to
// docs/benchmarks.md ("Soak: leaks").

import com.google.protobuf.ByteString;
import dev.kelpie.api.v1.CreateSandboxRequest;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.ListSandboxesRequest;
import dev.kelpie.api.v1.ReadFileRequest;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.api.v1.WriteFileRequest;
import dev.kelpie.api.v1.WriteFileResponse;
import dev.kelpie.api.v1.WriteFileStart;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import io.grpc.ManagedChannel;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

public class SoakBench {

    static final int SANDBOXES = 3;
    static final int ROUNDS = 300;
    static final int ROUNDS_PER_SANDBOX = 100;
    static final int FILE_BYTES = 256 * 1024;
    static final int EXEC_OUTPUT_BYTES = 256 * 1024;
    static final int CHUNK_BYTES = 32 * 1024;
    static final long SETTLE_MS = 180_000;
    /**
     * How long the thread count must hold still before the baseline is taken: longer than every idle pool thread's
     * keep-alive (the JDK's process reapers and ForkJoin pools, grpc-java's executor: 60 s), so none is counted.
     */
    static final long QUIET_MS = 65_000;

    static final AtomicLong sandboxesCreated = new AtomicLong();
    static final AtomicLong execs = new AtomicLong();
    static final AtomicLong bytesMoved = new AtomicLong();

    public static void main(String[] args) throws Exception {
        UnixSocketChannels channels = new UnixSocketChannels();
        ManagedChannel daemon = channels.open(Path.of(args[0]));
        long pid = Long.parseLong(args[1]);
        var sandboxes = SandboxesGrpc.newBlockingStub(daemon);

        run(daemon, SANDBOXES, 1, 1); // lazy initialisation is not a leak
        heapAfterGc(pid);
        awaitWarmPool(daemon);
        awaitQuiet(pid);
        long[] before = {threads(pid), fdsBesidesJars(pid), heapAfterGc(pid)};
        List<String> fdsBefore = fdTargets(pid);
        sandboxesCreated.set(0);
        execs.set(0);
        bytesMoved.set(0);
        long t0 = System.nanoTime();
        run(daemon, SANDBOXES, ROUNDS, ROUNDS_PER_SANDBOX);
        double seconds = KelpieBench.ms(t0) / 1000;
        if (sandboxes.list(ListSandboxesRequest.getDefaultInstance()).getSandboxesCount() != 0) {
            throw new IllegalStateException("sandboxes left after the soak");
        }
        long s0 = System.nanoTime();
        long deadline = s0 + SETTLE_MS * 1_000_000;
        while ((Math.abs(threads(pid) - before[0]) > 2 || Math.abs(fdsBesidesJars(pid) - before[1]) > 2)
                && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        double settled = KelpieBench.ms(s0) / 1000;
        awaitWarmPool(daemon);
        long[] after = {threads(pid), fdsBesidesJars(pid), heapAfterGc(pid)};

        System.out.printf(Locale.ROOT, "%d sandboxes at a time (%d in all), %d rounds each: %d execs, %.1f MB moved"
                + " (uploads, downloads, exec output) in %.0f s; settled %.0f s after the last delete%n%n", SANDBOXES,
                sandboxesCreated.get(), ROUNDS, execs.get(), bytesMoved.get() / 1e6, seconds, settled);
        System.out.println("| measurement | baseline | after | change | bound |");
        System.out.println("|---|---|---|---|---|");
        System.out.printf(Locale.ROOT, "| live threads | %d | %d | %+d | ±2 |%n", before[0], after[0], after[0] - before[0]);
        System.out.printf(Locale.ROOT, "| open fds (besides the class loader's jars) | %d | %d | %+d | ±2 |%n", before[1],
                after[1], after[1] - before[1]);
        System.out.printf(Locale.ROOT, "| heap after full GC, MB | %.1f | %.1f | %+.1f %% | ±10 %% |%n", before[2] / 1e6,
                after[2] / 1e6, 100.0 * (after[2] - before[2]) / before[2]);
        List<String> fdsAfter = fdTargets(pid);
        if (!fdsAfter.equals(fdsBefore)) {
            System.out.println();
            System.out.println("fds only before: " + minus(fdsBefore, fdsAfter) + "; only after: " + minus(fdsAfter, fdsBefore));
        }
        daemon.shutdownNow();
        channels.close();
    }

    static List<String> minus(List<String> a, List<String> b) {
        List<String> rest = new ArrayList<>(a);
        b.forEach(rest::remove);
        return rest;
    }

    /** What each fd besides the jars points to, sorted: socket:[inode], anon_inode:[eventpoll], a path. */
    static List<String> fdTargets(long pid) throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            return fds.map(fd -> {
                try {
                    return Files.readSymbolicLink(fd).toString();
                } catch (IOException gone) {
                    return "(gone)";
                }
            }).filter(t -> !t.endsWith(".jar")).sorted().toList();
        }
    }

    static void run(ManagedChannel daemon, int sandboxes, int rounds, int roundsPerSandbox) throws Exception {
        List<CompletableFuture<Void>> running = new ArrayList<>();
        for (int i = 0; i < sandboxes; i++) {
            running.add(CompletableFuture.runAsync(() -> {
                try {
                    for (int done = 0; done < rounds; done += roundsPerSandbox) {
                        oneSandbox(daemon, Math.min(roundsPerSandbox, rounds - done));
                    }
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }));
        }
        CompletableFuture.allOf(running.toArray(CompletableFuture[]::new)).get();
    }

    static void oneSandbox(ManagedChannel daemon, int rounds) throws Exception {
        var sandboxes = SandboxesGrpc.newBlockingStub(daemon);
        String id = sandboxes.create(CreateSandboxRequest.getDefaultInstance()).getSandbox().getId();
        sandboxesCreated.incrementAndGet();
        try {
            for (int round = 0; round < rounds; round++) {
                String path = "/workspace/soak/" + round + ".bin";
                byte[] content = new byte[FILE_BYTES];
                ThreadLocalRandom.current().nextBytes(content);
                var output = CompletableFuture.supplyAsync(() -> KelpieBench.exec(sandboxes, id,
                        "head -c " + EXEC_OUTPUT_BYTES + " /dev/zero"));
                upload(daemon, id, path, content);
                byte[] back = download(sandboxes, id, path);
                if (!Arrays.equals(content, back) || output.get() != EXEC_OUTPUT_BYTES) {
                    throw new IllegalStateException("round " + round + " of " + id + " moved the wrong bytes");
                }
                KelpieBench.exec(sandboxes, id, "rm " + path);
                execs.addAndGet(2);
                bytesMoved.addAndGet(2L * FILE_BYTES + EXEC_OUTPUT_BYTES);
            }
        } finally {
            sandboxes.delete(DeleteSandboxRequest.newBuilder().setId(id).build());
        }
    }

    static void upload(ManagedChannel daemon, String id, String path, byte[] content) throws Exception {
        CompletableFuture<WriteFileResponse> written = new CompletableFuture<>();
        StreamObserver<WriteFileRequest> upload = SandboxesGrpc.newStub(daemon).writeFile(new StreamObserver<>() {
            public void onNext(WriteFileResponse value) {
                written.complete(value);
            }

            public void onError(Throwable t) {
                written.completeExceptionally(t);
            }

            public void onCompleted() {}
        });
        upload.onNext(WriteFileRequest.newBuilder().setStart(WriteFileStart.newBuilder().setSandboxId(id).setPath(path)
                .setCreateParents(true).setSizeBytes(content.length)).build());
        for (int off = 0; off < content.length; off += CHUNK_BYTES) {
            upload.onNext(WriteFileRequest.newBuilder().setData(ByteString.copyFrom(content, off,
                    Math.min(CHUNK_BYTES, content.length - off))).build());
        }
        upload.onCompleted();
        written.get(180, TimeUnit.SECONDS);
    }

    static byte[] download(SandboxesGrpc.SandboxesBlockingStub sandboxes, String id, String path) {
        var out = new java.io.ByteArrayOutputStream();
        sandboxes.readFile(ReadFileRequest.newBuilder().setSandboxId(id).setPath(path).build())
                .forEachRemaining(r -> out.writeBytes(r.getData().toByteArray()));
        return out.toByteArray();
    }

    /** A pooled VM still booting would count as the daemon's: measure with the pool full, as at the baseline. */
    static void awaitWarmPool(ManagedChannel daemon) throws InterruptedException {
        var info = dev.kelpie.api.v1.HostGrpc.newBlockingStub(daemon).info(dev.kelpie.api.v1.HostInfoRequest
                .getDefaultInstance());
        if (info.getWarmPoolsCount() > 0) {
            KelpieBench.awaitWarmVm(daemon);
        }
    }

    static void awaitQuiet(long pid) throws IOException, InterruptedException {
        long since = System.nanoTime();
        long last = threads(pid);
        while (System.nanoTime() - since < QUIET_MS * 1_000_000) {
            Thread.sleep(100);
            long now = threads(pid);
            if (now != last) {
                last = now;
                since = System.nanoTime();
            }
        }
    }

    static long threads(long pid) throws IOException {
        try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            return tasks.count();
        }
    }

    /** Quarkus' class loader keeps its four most recently used jars open, which moves with class loading. */
    static long fdsBesidesJars(long pid) throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            return fds.filter(fd -> {
                try {
                    return !Files.readSymbolicLink(fd).toString().endsWith(".jar");
                } catch (IOException gone) {
                    return false;
                }
            }).count();
        }
    }

    /**
     * The serial collector reports one unindented line per generation, G1 one for the whole heap: all of them count.
     * Only the first would be the young generation, which the full GC has just emptied.
     */
    static long heapAfterGc(long pid) throws IOException, InterruptedException {
        jcmd(pid, "GC.run");
        Matcher m = Pattern.compile("^(?!Metaspace|class space)\\S.*?\\bused (\\d+)K", Pattern.MULTILINE)
                .matcher(jcmd(pid, "GC.heap_info"));
        long usedKiB = -1;
        while (m.find()) {
            usedKiB = Math.max(usedKiB, 0) + Long.parseLong(m.group(1));
        }
        if (usedKiB < 0) {
            throw new IllegalStateException("no heap usage in jcmd GC.heap_info");
        }
        return usedKiB * 1024;
    }

    static String jcmd(long pid, String command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                Long.toString(pid), command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IllegalStateException("jcmd " + command + ": " + out);
        }
        return out;
    }
}
