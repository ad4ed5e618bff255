package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A bounded soak: several sandboxes side by side, with concurrent execs and file transfers, then all deleted. The
 * daemon must hand back what it took: live threads and open file descriptors at most {@value #THREAD_TOLERANCE} above
 * their baseline, heap after a full GC at most {@value #HEAP_TOLERANCE_PERCENT} % above it. Only growth counts: a
 * leak grows, while pool threads still idle from the warm-up can only make the "after" smaller. The figures go to
 * docs/benchmarks.md ("Soak: leaks").
 */
class SoakIT {

    private static final int SANDBOXES = 3;
    /** About a minute and a half of work under TCG on a busy 2-core host. */
    private static final int ROUNDS = 120;
    /** Each sandbox is replaced twice, so that sandbox lifecycles are soaked too, not only calls. */
    private static final int ROUNDS_PER_SANDBOX = 40;
    /**
     * Below one per sandbox created (9) and far below one per exec, so any per-sandbox or per-call leak still fails;
     * above what pools a loaded host keeps a little longer (JDK process reapers idle out after 60 s).
     */
    private static final int THREAD_TOLERANCE = 4;
    private static final int FD_TOLERANCE = 4;
    private static final int HEAP_TOLERANCE_PERCENT = 10;
    /**
     * Idle pool threads end after their keep-alive (the JDK's process reapers and ForkJoin pools, grpc-java's cached
     * executor: 30 to 60 s), so a daemon that grew its pools under load takes up to a minute to shrink back.
     */
    private static final Duration SETTLE_TIMEOUT = Duration.ofSeconds(180);
    /** How long the thread count must hold still before it counts as a baseline. */
    private static final Duration QUIET_FOR = Duration.ofSeconds(5);

    @TempDir
    static Path work;

    @Test
    void threadsFdsAndHeapReturnToTheirBaselineAfterConcurrentExecsAndTransfersInSeveralSandboxes() throws Exception {
        String imageDir = System.getProperty("kelpie.it.imageDir", "");
        Assumptions.assumeFalse(imageDir.isBlank(), "no image given (-Dkelpie.imageDir=...; scripts/dev passes it)");
        try (DaemonProcess daemon = DaemonProcess.startServing(work, "soak", SandboxesIT.daemonArgs(imageDir));
                SandboxClient client = new SandboxClient(daemon.socket)) {
            long pid = daemon.process.pid();
            Probes.awaitBackend(daemon, "qemu");
            // Lazy initialisation is not a leak, and it must all be in the baseline: classes, pools, jcmd's attach
            // listener, both agent event loops (each starts its thread and fds on its first channel; channels take
            // turns), the JDK's poller for virtual threads' socket I/O (MasterPoller and its epoll fds, started by the
            // first such call, which on some runs only the soak made: it ended +1 thread, +4 fds for good). So the
            // warm-up is the soak in small: the same sandboxes side by side, each replaced once.
            new SoakWorkload(client).run(SANDBOXES, 2, 1);
            DaemonHeap.usedAfterGc(pid);
            awaitQuiet(pid);
            DaemonFootprint baseline = DaemonFootprint.of(pid);
            Map<String, Long> baselineThreads = DaemonFootprint.threadNames(pid);
            Map<String, Long> baselineFds = DaemonFootprint.fdTargets(pid);

            SoakWorkload soak = new SoakWorkload(client);
            long started = System.nanoTime();
            soak.run(SANDBOXES, ROUNDS, ROUNDS_PER_SANDBOX);
            Duration took = Duration.ofNanos(System.nanoTime() - started);
            int peakThreads = DaemonFootprint.threads(pid);
            assertEquals(0, client.list().size(), "every sandbox deleted");

            long settling = System.nanoTime();
            Await.until("threads and fds back within their tolerance of " + baseline, SETTLE_TIMEOUT, () ->
                    DaemonFootprint.threads(pid) - baseline.threads() <= THREAD_TOLERANCE
                            && DaemonFootprint.fds(pid) - DaemonFootprint.jarFds(pid)
                                    - baseline.fdsBesidesJars() <= FD_TOLERANCE,
                    () -> difference(baselineThreads, baselineFds, pid));
            Duration settled = Duration.ofNanos(System.nanoTime() - settling);
            DaemonFootprint after = DaemonFootprint.of(pid);

            System.out.printf(Locale.ROOT, "soak: %d sandboxes at a time (%d in all) x %d rounds in %d s: %d execs, %d B"
                    + " uploaded, %d B downloaded, %d B of exec output; settled %d s after the last delete%n",
                    SANDBOXES, soak.sandboxesCreated.get(), ROUNDS, took.toSeconds(), soak.execs.get(),
                    soak.bytesUploaded.get(), soak.bytesDownloaded.get(), soak.execOutputBytes.get(), settled.toSeconds());
            System.out.printf(Locale.ROOT, "soak: threads %d -> peak %d -> %d; fds %d (%d jars) -> %d (%d jars);"
                    + " heap after GC %d -> %d bytes (%+.1f %%)%n", baseline.threads(), peakThreads, after.threads(),
                    baseline.fds(), baseline.jarFds(), after.fds(), after.jarFds(), baseline.heapBytes(),
                    after.heapBytes(), 100.0 * (after.heapBytes() - baseline.heapBytes()) / baseline.heapBytes());
            String detail = difference(baselineThreads, baselineFds, pid);
            System.out.println("soak: " + detail);
            assertTrue(after.threads() - baseline.threads() <= THREAD_TOLERANCE, detail);
            assertTrue(after.fdsBesidesJars() - baseline.fdsBesidesJars() <= FD_TOLERANCE, detail);
            assertTrue((after.heapBytes() - baseline.heapBytes()) * 100 <= HEAP_TOLERANCE_PERCENT
                    * baseline.heapBytes(), "heap after GC " + baseline.heapBytes() + " -> " + after.heapBytes());
            Leftovers.assertOnlyLiveSandboxes(work, daemon, client.list());
        } finally {
            Leftovers.killQemusNaming(work);
        }
    }

    private static String difference(Map<String, Long> baselineThreads, Map<String, Long> baselineFds, long pid) {
        return "threads by name, before " + baselineThreads + ", now " + DaemonFootprint.threadNames(pid)
                + "; fds by target, before " + baselineFds + ", now " + DaemonFootprint.fdTargets(pid);
    }

    /** Waits until the daemon's thread count has held still for {@link #QUIET_FOR}: lazy work after a call is done. */
    private static void awaitQuiet(long pid) {
        long[] since = {System.nanoTime()};
        int[] last = {DaemonFootprint.threads(pid)};
        Await.until("the daemon's thread count to hold still", SETTLE_TIMEOUT, () -> {
            int now = DaemonFootprint.threads(pid);
            if (now != last[0]) {
                last[0] = now;
                since[0] = System.nanoTime();
            }
            return System.nanoTime() - since[0] >= QUIET_FOR.toNanos();
        });
    }
}
