package dev.kelpie.daemon.it;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a running daemon's heap from the JVM itself, through jcmd: a full GC, then the heap's used bytes. The daemon runs
 * the serial collector, whose report has one line per generation ("DefNew ... used 25K", "Tenured ... used 9876K");
 * G1's has one line for the whole heap. So every unindented line's "used" counts (the indented ones are the spaces
 * inside a generation); taking only the first would measure the young generation, which a full GC has just emptied.
 */
final class DaemonHeap {

    private static final Pattern AREA_USED = Pattern.compile("^(?!Metaspace|class space)\\S.*?\\bused (\\d+)K",
            Pattern.MULTILINE);

    private DaemonHeap() {}

    static long usedAfterGc(long pid) throws IOException, InterruptedException {
        jcmd(pid, "GC.run");
        String info = jcmd(pid, "GC.heap_info");
        Matcher m = AREA_USED.matcher(info);
        long usedKiB = 0;
        boolean found = false;
        while (m.find()) {
            usedKiB += Long.parseLong(m.group(1));
            found = true;
        }
        if (!found) {
            throw new AssertionError("no heap usage in jcmd GC.heap_info output:\n" + info);
        }
        return usedKiB * 1024;
    }

    private static String jcmd(long pid, String command) throws IOException, InterruptedException {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        Process p = new ProcessBuilder(jcmd.toString(), Long.toString(pid), command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new AssertionError("jcmd " + command + " failed: " + out);
        }
        return out;
    }
}
