package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.api.v1.ImagesGrpc;
import dev.kelpie.api.v1.PullImageRequest;
import dev.kelpie.api.v1.PullImageResponse;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import dev.kelpie.daemon.images.pull.FakeGithub;
import dev.kelpie.daemon.images.pull.ReleaseFiles;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged daemon pulls the real test image from a real HTTP server that speaks GitHub's release API, checks it
 * against the image's own minisign key, and boots a sandbox from the cache — and a daemon killed in the middle of a
 * pull leaves a cache the next daemon completes.
 */
class ImagePullIT {

    private static final String REPO = "kelpie-dev/images";
    private static final String VERSION = "0.0.0-test";
    private static final String ARCH = "x86_64";
    private static final String ARCHIVE = ReleaseFiles.archive(VERSION, ARCH);
    private static final Duration CLI_TIMEOUT = Duration.ofSeconds(240);

    @TempDir
    static Path work;
    static Path imageDir;
    static FakeGithub github;
    DaemonProcess daemon;

    @BeforeAll
    static void publishTheTestImage() throws IOException {
        String dir = System.getProperty("kelpie.it.imageDir", "");
        Assumptions.assumeFalse(dir.isBlank(), "no image given (-Dkelpie.imageDir=...; scripts/dev passes it)");
        imageDir = Path.of(dir);
        Path release = Files.createDirectories(work.resolve("releases").resolve(VERSION));
        for (String file : List.of(ARCHIVE, ReleaseFiles.CHECKSUMS, ReleaseFiles.SIGNATURE)) {
            Files.createSymbolicLink(release.resolve(file), imageDir.resolve(file));
        }
        github = FakeGithub.start(work.resolve("releases"), REPO);
    }

    @AfterAll
    static void stopServer() {
        if (github != null) {
            github.close();
        }
    }

    @AfterEach
    void stopDaemon() throws InterruptedException {
        github.clearFaults();
        github.clearRequests();
        if (daemon != null) {
            daemon.close();
        }
    }

    private static String[] daemonArgs() {
        return new String[] {"-Dkelpie.images.sources.releases.type=github",
                "-Dkelpie.images.sources.releases.repo=" + REPO,
                "-Dkelpie.images.sources.releases.api-url=" + github.apiUrl(),
                // image-build signs each build; this image's key stands in for the project's release key
                "-Dkelpie.images.trusted-keys=" + imageDir.resolve("minisign.pub"),
                "-Dkelpie.images.stall-timeout=120s", "-Dkelpie.qemu.accelerator=tcg", "-Dkelpie.probe.boot-timeout=2s",
                "-Dkelpie.sandboxes.default-memory-mib=256"};
    }

    @Test
    void createWithAnUncachedVersionPullsTheImageBootsItAndGuardsItWhileInUse() throws Exception {
        daemon = DaemonProcess.startServing(work, "on-create", daemonArgs());
        KelpieCliRunner cli = new KelpieCliRunner(daemon.socket, work);

        var created = cli.run(CLI_TIMEOUT, "sandbox", "create", "--image-version", VERSION);
        assertEquals(0, created.exitCode(), created.stderr() + daemon.logText());
        String id = created.stdout().strip();
        var uname = cli.run(CLI_TIMEOUT, "exec", id, "--", "uname", "-m");
        assertEquals("x86_64", uname.stdout().strip(), uname.stderr());

        var info = cli.run(CLI_TIMEOUT, "info");
        assertTrue(info.stdout().contains("images     1 cached"), info.stdout());
        assertTrue(info.stdout().contains("releases=github:" + REPO), info.stdout());

        var listed = cli.run(CLI_TIMEOUT, "images", "ls");
        String line = listed.stdout().lines().filter(l -> l.startsWith(VERSION)).findFirst().orElseThrow();
        assertTrue(line.contains("github:" + REPO) && line.matches(".*\\s1\\s+github:.*"), listed.stdout());

        var refused = cli.run(CLI_TIMEOUT, "images", "rm", VERSION);
        assertEquals(70, refused.exitCode());
        assertTrue(refused.stderr().contains("FAILED_PRECONDITION") && refused.stderr().contains("in use"),
                refused.stderr());

        assertEquals(0, cli.run(CLI_TIMEOUT, "sandbox", "rm", id).exitCode());
        var verified = cli.run(CLI_TIMEOUT, "images", "verify", VERSION);
        assertTrue(verified.stdout().contains("intact: 5 files"), verified.stdout() + verified.stderr());
        var removed = cli.run(CLI_TIMEOUT, "images", "rm", VERSION);
        assertEquals(0, removed.exitCode(), removed.stderr());
        assertFalse(cli.run(CLI_TIMEOUT, "images", "ls").stdout().contains(VERSION));
        assertEquals(List.of(), filesUnder(daemon.stateDir.resolve("images/blobs")));
    }

    @Test
    void aPullOfDamagedBytesFailsWithDataLossAndCachesNothing() throws Exception {
        daemon = DaemonProcess.startServing(work, "damaged", daemonArgs());
        github.fault(ARCHIVE, FakeGithub.Fault.corruptLastByte());
        var pulled = new KelpieCliRunner(daemon.socket, work).run(CLI_TIMEOUT, "images", "pull", VERSION);
        assertEquals(70, pulled.exitCode());
        assertTrue(pulled.stderr().contains("DATA_LOSS") && pulled.stderr().contains("signed SHA256SUMS says"),
                pulled.stderr());
        assertEquals(List.of(), filesUnder(daemon.stateDir.resolve("images")));
    }

    @Test
    void killingTheDaemonDuringAPullLeavesTheCacheConsistentAndTheNextPullResumes() throws Exception {
        long stallAt = 2_000_000;
        github.fault(ARCHIVE, FakeGithub.Fault.stallAfter(stallAt));
        daemon = DaemonProcess.startServing(work, "killed", daemonArgs());
        Path downloads = daemon.stateDir.resolve("images/downloads");
        try (UnixSocketChannels channels = new UnixSocketChannels()) {
            var channel = channels.open(daemon.socket);
            ImagesGrpc.newStub(channel).pull(PullImageRequest.newBuilder().setVersion(VERSION).build(), ignore());
            Await.until("the pull to receive " + stallAt + " bytes", Duration.ofSeconds(60),
                    () -> partialSize(downloads) == stallAt);
            daemon.kill9();
            channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        }
        assertEquals(List.of(), filesUnder(daemon.stateDir.resolve("images/index")));

        github.clearFaults();
        github.clearRequests();
        daemon = daemon.startSuccessor(work.resolve("killed/successor.log"), daemonArgs());
        KelpieCliRunner cli = new KelpieCliRunner(daemon.socket, work);
        var pulled = cli.run(CLI_TIMEOUT, "images", "pull", VERSION);
        assertEquals(0, pulled.exitCode(), pulled.stderr());
        assertTrue(pulled.stdout().contains(VERSION + "/" + ARCH + " cached"), pulled.stdout());
        assertEquals(List.of("bytes=" + stallAt + "-"), github.downloadsOf(ARCHIVE).stream()
                .map(FakeGithub.Request::range).toList());
        assertTrue(cli.run(CLI_TIMEOUT, "images", "verify", VERSION).stdout().contains("intact"));
        assertEquals(List.of(), filesUnder(downloads));
        assertEquals(List.of(), filesUnder(daemon.stateDir.resolve("images/staging")));
    }

    private static long partialSize(Path downloads) {
        try (Stream<Path> files = Files.exists(downloads) ? Files.list(downloads) : Stream.empty()) {
            return files.mapToLong(f -> f.toFile().length()).sum();
        } catch (IOException e) {
            return -1;
        }
    }

    private static List<Path> filesUnder(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return List.of();
        }
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile).toList();
        }
    }

    private static StreamObserver<PullImageResponse> ignore() {
        return new StreamObserver<>() {
            @Override
            public void onNext(PullImageResponse value) {}

            @Override
            public void onError(Throwable t) {}

            @Override
            public void onCompleted() {}
        };
    }
}
