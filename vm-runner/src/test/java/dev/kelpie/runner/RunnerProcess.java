package dev.kelpie.runner;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs the VM runner's main as the daemon does (its own JVM, {@code -Xrs}, stderr to a file) against a library. */
final class RunnerProcess {

    private static final long RUNNER_TIMEOUT_SECONDS = 120;

    /** How one run ended. */
    record Outcome(int status, String stderr, List<String> calls) {}

    private RunnerProcess() {}

    static Outcome run(Path workDir, Path configFile, Map<String, String> env) throws IOException, InterruptedException {
        Path recordDir = Files.createTempDirectory(workDir, "record");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> argv = new ArrayList<>(List.of(java, "-Xrs", "-Xmx32m", "-XX:TieredStopAtLevel=1",
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                VmRunner.class.getName(), configFile.toString()));
        Path stderr = workDir.resolve("runner.log");
        ProcessBuilder builder = new ProcessBuilder(argv).redirectErrorStream(true).redirectOutput(stderr.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        builder.environment().put(KrunDouble.RECORD_DIR_ENV, recordDir.toString());
        builder.environment().putAll(env);
        Process p = builder.start();
        if (!p.waitFor(RUNNER_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("the runner did not end within " + RUNNER_TIMEOUT_SECONDS + " s");
        }
        return new Outcome(p.exitValue(), Files.readString(stderr), KrunDouble.calls(recordDir));
    }
}
