package dev.kelpie.daemon.it;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs the packaged {@code bin/kelpie} CLI against a daemon's socket, as a user would. */
final class KelpieCliRunner {

    record Result(int exitCode, String stdout, String stderr) {}

    private static final Path LAUNCHER = Path.of(System.getProperty("kelpie.it.launcher", "bin/kelpied")).resolveSibling("kelpie");
    private static final Path APP_DIR = Path.of(System.getProperty("kelpie.it.appDir", "target/quarkus-app"));

    private final Path socket;
    private final Path work;

    KelpieCliRunner(Path socket, Path work) {
        this.socket = socket;
        this.work = work;
    }

    Result run(Duration timeout, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(LAUNCHER.toString(), "--socket", socket.toString()));
        cmd.addAll(List.of(args));
        Path out = Files.createTempFile(work, "cli", ".out");
        Path err = Files.createTempFile(work, "cli", ".err");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        pb.environment().put("KELPIE_APP_DIR", APP_DIR.toString());
        Process p = pb.start();
        if (!p.waitFor(Await.scaled(timeout).toMillis(), TimeUnit.MILLISECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("kelpie " + String.join(" ", args) + " did not finish within " + timeout);
        }
        return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
    }
}
