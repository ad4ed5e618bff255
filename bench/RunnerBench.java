import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.runner.KrunDouble;
import dev.kelpie.runner.RunnerConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * What the libkrun backend's Java VM runner costs per VM, measured against the libkrun double (no VM is built: the
 * double's krun_start_enter runs a stand-in for QEMU): the time from starting the runner to libkrun's
 * krun_start_enter (JVM start, reading runner.json, loading the library, 13 downcalls), and the runner's resident
 * memory while its VM runs. Usage: java -cp CLASSPATH bench/RunnerBench.java SCRATCH_DIR JAVA [NAME=JVM_OPTIONS...]
 * With several option sets they are measured side by side: each start and each RSS sample round takes them in turn.
 * {@code -Drunner.classPath=} is the runner's class path (default: the bench's own); give it RunnerLauncher's (the
 * runner's jar, jackson-databind, -core, -annotations, in that order) to use an AOT cache made for it.
 */
public class RunnerBench {

    static final int STARTS = 20;
    static final int RSS_SAMPLES = 3;
    static final long WAIT_FOR_ENTER_MS = 60_000;
    /**
     * As RunnerLauncher.javaRunner starts it (bench/run.sh passes the launcher's own, printed by its main);
     * -Drunner.jvmOptions="..." tries others.
     */
    static final String RUNNER_JVM_OPTIONS = "-Xrs -Xmx32m -Xms4m -XX:+UseSerialGC -Xint -XX:-UsePerfData"
            + " --enable-native-access=ALL-UNNAMED";

    public static void main(String[] args) throws Exception {
        Path scratch = Path.of(args[0]);
        String java = args[1];
        Path library = KrunDouble.build(scratch.resolve("double"), KrunDouble.Variant.FULL);
        Path vmm = scratch.resolve("fake-qemu.sh");
        Files.writeString(vmm, "#!/bin/sh\nexec sleep 600\n");
        Files.setPosixFilePermissions(vmm, PosixFilePermissions.fromString("rwxr-xr-x"));
        String classPath = System.getProperty("runner.classPath", System.getProperty("java.class.path"));
        java.util.LinkedHashMap<String, String> configs = new java.util.LinkedHashMap<>();
        for (int i = 2; i < args.length; i++) {
            configs.put(args[i].substring(0, args[i].indexOf('=')), args[i].substring(args[i].indexOf('=') + 1));
        }
        if (configs.isEmpty()) {
            configs.put("runner", System.getProperty("runner.jvmOptions", RUNNER_JVM_OPTIONS));
        }
        java.util.Map<String, List<Long>> starts = new java.util.HashMap<>();
        java.util.Map<String, List<Long>> rss = new java.util.HashMap<>();
        java.util.Map<String, List<Long>> pss = new java.util.HashMap<>();
        for (int i = 0; i < STARTS; i++) {
            for (var c : configs.entrySet()) {
                Run run = start(scratch.resolve(c.getKey() + "-start-" + i), library, java, classPath, "/bin/true",
                        c.getValue());
                long t0 = System.nanoTime();
                run.process.waitFor();
                starts.computeIfAbsent(c.getKey(), k -> new ArrayList<>()).add((System.nanoTime() - t0) / 1_000_000);
            }
        }
        for (int i = 0; i < RSS_SAMPLES; i++) {
            for (var c : configs.entrySet()) {
                sample(scratch.resolve(c.getKey() + "-rss-" + i), library, java, classPath, vmm, c.getValue(),
                        rss.computeIfAbsent(c.getKey(), k -> new ArrayList<>()),
                        pss.computeIfAbsent(c.getKey(), k -> new ArrayList<>()));
            }
        }
        System.out.printf("load %s%n", Files.readString(Path.of("/proc/loadavg")).trim());
        for (String name : configs.keySet()) {
            List<Long> startMillis = starts.get(name);
            List<Long> rssKib = rss.get(name);
            List<Long> pssKib = pss.get(name);
            Collections.sort(startMillis);
            Collections.sort(rssKib);
            Collections.sort(pssKib);
            System.out.printf("| %s: runner start to krun_start_enter (%d runs) | median %d ms, p90 %d ms, max %d ms |%n",
                    name, STARTS, startMillis.get(STARTS / 2), startMillis.get(STARTS * 9 / 10), startMillis.getLast());
            System.out.printf("| %s: runner memory while its VM runs (%d runs) | RSS median %.1f MiB, PSS median %.1f MiB |%n",
                    name, RSS_SAMPLES, rssKib.get(RSS_SAMPLES / 2) / 1024.0, pssKib.get(RSS_SAMPLES / 2) / 1024.0);
        }
    }

    static void sample(Path dir, Path library, String java, String classPath, Path vmm, String options,
            List<Long> rssKib, List<Long> pssKib) throws Exception {
        {
            Run run = start(dir, library, java, classPath, vmm.toString(), options);
            long deadline = System.currentTimeMillis() + WAIT_FOR_ENTER_MS;
            while (KrunDouble.recordLines(run.recordDir).stream().noneMatch(l -> l.startsWith("# exec"))) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("the runner did not enter the VM within " + WAIT_FOR_ENTER_MS + " ms");
                }
                Thread.sleep(20);
            }
            rssKib.add(Files.readAllLines(Path.of("/proc", Long.toString(run.process.pid()), "status")).stream()
                    .filter(l -> l.startsWith("VmRSS:")).map(l -> Long.parseLong(l.replaceAll("\\D", ""))).findFirst()
                    .orElseThrow());
            // Pss shares the JDK's mapped class archive and libraries among the runners that map them.
            pssKib.add(Files.readAllLines(Path.of("/proc", Long.toString(run.process.pid()), "smaps_rollup")).stream()
                    .filter(l -> l.startsWith("Pss:")).map(l -> Long.parseLong(l.replaceAll("\\D", ""))).findFirst()
                    .orElseThrow());
            run.process.destroyForcibly().waitFor();
        }
    }

    record Run(Process process, Path recordDir) {}

    static Run start(Path dir, Path library, String java, String classPath, String vmm, String options)
            throws Exception {
        Path recordDir = Files.createDirectories(dir.resolve("record"));
        RunnerConfig config = new RunnerConfig(library.toString(), 2, "x86_64", 1, 256, Path.of("/img/vmlinux"),
                "console=hvc0", Path.of("/img/rootfs.ext4"), dir.resolve("rw.ext4"), 1024, dir.resolve("agent.sock"),
                dir.resolve("console.log"), List.of(), List.of(), Path.of("/dev/kvm"));
        Path file = dir.resolve("runner.json");
        config.write(file, new ObjectMapper());
        // The command line the daemon uses (RunnerLauncher.javaRunner).
        List<String> argv = new ArrayList<>(List.of(java));
        argv.addAll(List.of(options.split(" ")));
        argv.addAll(List.of("-cp", classPath, "dev.kelpie.runner.VmRunner", file.toString()));
        ProcessBuilder pb = new ProcessBuilder(argv)
                .redirectErrorStream(true).redirectOutput(dir.resolve("runner.log").toFile());
        pb.environment().put(KrunDouble.RECORD_DIR_ENV, recordDir.toString());
        pb.environment().put(KrunDouble.QEMU_ENV, vmm);
        return new Run(pb.start(), recordDir);
    }
}
