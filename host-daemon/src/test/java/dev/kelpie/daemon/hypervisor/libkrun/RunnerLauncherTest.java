package dev.kelpie.daemon.hypervisor.libkrun;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class RunnerLauncherTest {

    @Test
    void findsTheJarOrClassDirectoryAClassCameFrom() {
        Path jar = Path.of(RunnerLauncher.codeLocation(ObjectMapper.class));
        assertTrue(jar.getFileName().toString().endsWith(".jar") && Files.isRegularFile(jar), jar.toString());
        Path classes = Path.of(RunnerLauncher.codeLocation(RunnerLauncherTest.class));
        assertTrue(Files.isRegularFile(classes.resolve("dev/kelpie/daemon/hypervisor/libkrun/RunnerLauncherTest.class")),
                classes.toString());
    }

    @Test
    void theJavaRunnerIsTheRunnersMainOnThisJdkWithASmallHeapAndNoSignalHandlers() {
        List<String> command = RunnerLauncher.javaRunner().command();
        assertEquals(ProcessHandle.current().info().command().orElseThrow(), command.getFirst());
        assertTrue(command.containsAll(List.of("-Xrs", RunnerLauncher.RUNNER_MAX_HEAP, "--enable-native-access=ALL-UNNAMED")),
                command.toString());
        assertEquals("dev.kelpie.runner.VmRunner", command.getLast());
        String classPath = command.get(command.indexOf("-cp") + 1);
        assertEquals(4, classPath.split(":").length, "the runner, jackson-databind, -core and -annotations: " + classPath);
    }

    @Test
    void aPackagedRunnersAotCacheIsUsedWhenItIsThere(@org.junit.jupiter.api.io.TempDir Path app) throws Exception {
        Path jar = Files.createDirectories(app.resolve("lib/main")).resolve("dev.kelpie.kelpie-vm-runner-1.jar");
        Files.writeString(jar, "");
        assertEquals(java.util.Optional.empty(), RunnerLauncher.aotCache(jar.toString()));
        Files.writeString(app.resolve(RunnerLauncher.AOT_CACHE_FILE), "cache");
        assertEquals(java.util.Optional.of(app.resolve(RunnerLauncher.AOT_CACHE_FILE)),
                RunnerLauncher.aotCache(jar.toString()));
        // a class directory (a source tree) has no cache
        assertEquals(java.util.Optional.empty(), RunnerLauncher.aotCache(app.resolve("lib/main").toString()));
        // the training command is the runner's without any cache
        assertTrue(RunnerLauncher.javaRunner(false).command().stream().noneMatch(a -> a.startsWith("-XX:AOT")));
    }

    @Test
    void aNativeRunnerIsJustItsBinary() {
        assertEquals(List.of("/opt/kelpie/bin/kelpie-vm-runner"),
                RunnerLauncher.nativeRunner(Path.of("/opt/kelpie/bin/kelpie-vm-runner")).command());
    }
}
