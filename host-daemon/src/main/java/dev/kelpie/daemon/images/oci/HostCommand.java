package dev.kelpie.daemon.images.oci;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs an e2fsprogs tool on the host, bounded in time, with its output in a log the failure quotes. */
final class HostCommand {

    private HostCommand() {}

    /**
     * @param what the work, for messages ("mke2fs built root.ext4")
     * @return the exit code (0 when the tool ran fine)
     * @throws IOException when it could not start, ran out of time or was interrupted (then it is killed)
     */
    static int run(List<String> command, Path log, long timeoutSeconds, String what) throws IOException {
        return run(command, Map.of(), log, timeoutSeconds, what);
    }

    /** @param env set in the tool's environment, over the daemon's */
    static int run(List<String> command, Map<String, String> env, Path log, long timeoutSeconds, String what)
            throws IOException {
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().putAll(env);
        Process p = builder.start();
        try {
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(command.getFirst() + " did not finish within " + timeoutSeconds + " s");
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while " + what, e);
        }
        return p.exitValue();
    }

    /** What the tool wrote, for an error message. */
    static String output(Path log) throws IOException {
        return Files.readString(log).strip();
    }
}
