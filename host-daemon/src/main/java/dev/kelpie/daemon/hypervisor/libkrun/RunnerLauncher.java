package dev.kelpie.daemon.hypervisor.libkrun;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.annotation.JsonAutoDetect;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.runner.VmRunner;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Starts VM runner processes: a native runner binary when one is configured (fast start, small footprint, and on macOS
 * the binary that carries the hypervisor entitlement), otherwise the runner's Java main on this daemon's own JDK with
 * a small heap. Either way the runner gets its own session (so a terminal's Ctrl-C or the daemon's process group
 * signals do not reach it), stdio on files only, and the loader path for libkrunfw.
 */
public final class RunnerLauncher {

    /** Enough for the runner: it reads one small JSON file and makes a few dozen downcalls. */
    static final String RUNNER_MAX_HEAP = "-Xmx32m";
    /** Also what an AOT cache's archived objects need room for: a cache refuses a smaller one (the VM does not start). */
    static final String RUNNER_INITIAL_HEAP = "-Xms4m";
    static final String AOT_CACHE_FILE = "vm-runner.aot";
    /**
     * What the runner keeps of the daemon's environment: the loader paths (where an administrator pointed them at
     * libkrun), locale and time zone for messages, and the KRUN_* settings.
     */
    static final List<String> KEPT_VARIABLES = List.of("PATH", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH",
            "DYLD_FALLBACK_LIBRARY_PATH", "LANG", "LC_ALL", "LC_MESSAGES", "TZ", "TMPDIR");
    static final String KEPT_PREFIX = "KRUN_";

    private final List<String> command;

    private RunnerLauncher(List<String> command) {
        this.command = List.copyOf(command);
    }

    /** A native runner, e.g. {@code /opt/kelpie/bin/kelpie-vm-runner}. */
    public static RunnerLauncher nativeRunner(Path binary) {
        return new RunnerLauncher(List.of(binary.toString()));
    }

    /** The runner's Java main from the jars this daemon loaded it from, on the daemon's own java. */
    public static RunnerLauncher javaRunner() {
        return javaRunner(true);
    }

    /**
     * @param withAotCache whether to use the app's {@value #AOT_CACHE_FILE} when there is one (not for the run that
     *     trains it)
     */
    static RunnerLauncher javaRunner(boolean withAotCache) {
        String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        String runnerJar = codeLocation(VmRunner.class);
        String classPath = Stream.of(runnerJar, codeLocation(ObjectMapper.class), codeLocation(JsonFactory.class),
                codeLocation(JsonAutoDetect.class)).distinct().collect(Collectors.joining(File.pathSeparator));
        // -Xrs: libkrun handles SIGINT itself, and SIGTERM must end the VM at once rather than run JVM shutdown hooks.
        // The rest keeps an idle JVM small for the VM's whole life (bench/RunnerBench.java): -Xint because the runner
        // runs Java for well under a second and then idles inside krun_start_enter, so a JIT's threads, arenas and code
        // cache (about 10 MiB) would never pay off; no perf data file is left per runner in /tmp.
        List<String> command = new ArrayList<>(List.of(java, "-Xrs", RUNNER_MAX_HEAP, RUNNER_INITIAL_HEAP,
                "-XX:+UseSerialGC", "-Xint", "-XX:-UsePerfData", "--enable-native-access=ALL-UNNAMED"));
        if (withAotCache) {
            aotCache(runnerJar).ifPresent(cache -> command.add("-XX:AOTCache=" + cache));
        }
        command.addAll(List.of("-cp", classPath, VmRunner.class.getName()));
        return new RunnerLauncher(command);
    }

    /**
     * The packaged app's AOT cache of the runner (JEP 483/514: classes loaded and linked ahead, about half the start):
     * {@code APP_DIR/vm-runner.aot} beside {@code APP_DIR/lib/main/}, made by {@code scripts/make-aot-caches.sh} with
     * the command line {@link #main} prints. None when the runner is not a packaged jar.
     */
    static Optional<Path> aotCache(String runnerCodeLocation) {
        Path location = Path.of(runnerCodeLocation).toAbsolutePath();
        // APP_DIR/lib/main/RUNNER.jar: three levels up
        Path app = location.getParent() == null || location.getParent().getParent() == null ? null
                : location.getParent().getParent().getParent();
        if (!location.getFileName().toString().endsWith(".jar") || app == null) {
            return Optional.empty();
        }
        Path cache = app.resolve(AOT_CACHE_FILE);
        return Files.isRegularFile(cache) ? Optional.of(cache) : Optional.empty();
    }

    /**
     * Prints the Java runner's command line without its AOT cache and without the config argument, one argument a
     * line: {@code scripts/make-aot-caches.sh} trains the cache with exactly this command (the cache only holds for the
     * class path and heap options it was made with).
     */
    public static void main(String[] args) {
        javaRunner(false).command().forEach(System.out::println);
    }

    List<String> command() {
        return command;
    }

    /**
     * Starts a runner for {@code config}; its stdout and stderr are appended to {@code log}, its stdin is empty.
     *
     * @param libraryPath directories put first on the runner's loader path
     */
    Process start(Path config, Path log, List<Path> libraryPath, boolean macOs) throws IOException {
        List<String> argv = new ArrayList<>(command);
        argv.add(config.toString());
        ProcessBuilder builder = new ProcessBuilder(argv).directory(config.getParent().toFile())
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Map<String, String> env = builder.environment();
        env.keySet().removeIf(name -> !KEPT_VARIABLES.contains(name) && !name.startsWith(KEPT_PREFIX));
        if (!libraryPath.isEmpty()) {
            prependLibraryPath(env, macOs ? "DYLD_FALLBACK_LIBRARY_PATH" : "LD_LIBRARY_PATH", libraryPath);
        }
        return builder.start();
    }

    private static void prependLibraryPath(Map<String, String> env, String variable, List<Path> dirs) {
        String joined = dirs.stream().map(Path::toString).collect(Collectors.joining(File.pathSeparator));
        String current = env.get(variable);
        env.put(variable, current == null || current.isEmpty() ? joined : joined + File.pathSeparator + current);
    }

    /**
     * The jar or class directory a class was loaded from. Asked through its resource URL, not its protection domain:
     * Quarkus' class loader serves classes from its own jar index and does not always fill in a code source.
     */
    static String codeLocation(Class<?> type) {
        String resource = type.getName().replace('.', '/') + ".class";
        URL url = type.getClassLoader().getResource(resource);
        if (url == null) {
            throw new IllegalStateException("cannot find where " + type.getName() + " was loaded from");
        }
        String text = url.toString();
        try {
            if (text.startsWith("jar:")) {
                String jar = text.substring("jar:".length(), text.indexOf("!/"));
                return Path.of(URI.create(jar)).toString();
            }
            Path file = Path.of(url.toURI());
            Path root = file;
            for (int i = 0; i < resource.split("/").length; i++) {
                root = root.getParent();
            }
            return root.toString();
        } catch (URISyntaxException | IllegalArgumentException e) {
            throw new IllegalStateException("cannot turn " + text + " into a class path entry: " + e.getMessage(), e);
        }
    }
}
