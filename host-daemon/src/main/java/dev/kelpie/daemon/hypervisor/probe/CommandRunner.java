package dev.kelpie.daemon.hypervisor.probe;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Runs short helper commands ({@code qemu --version}) with a deadline; never leaves the child running. */
public final class CommandRunner {

    private static final int MAX_OUTPUT_BYTES = 64 * 1024;

    /** Output (stdout and stderr merged) and exit code of a finished command. */
    public record Result(int exitCode, String output) {}

    /**
     * @throws IOException if the command cannot start, or did not finish within {@code timeout}
     */
    public Result run(List<String> command, Duration timeout) throws IOException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        CompletableFuture<String> output = CompletableFuture.supplyAsync(() -> readBounded(process.getInputStream()),
                Thread::startVirtualThread);
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new IOException(String.join(" ", command) + " did not finish within " + timeout.toMillis() + " ms");
            }
            return new Result(process.exitValue(), output.get(timeout.toMillis(), TimeUnit.MILLISECONDS));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running " + command.getFirst(), e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IOException("reading the output of " + command.getFirst() + " failed", e);
        } finally {
            process.destroyForcibly();
        }
    }

    private static String readBounded(InputStream in) {
        try (in) {
            byte[] bytes = in.readNBytes(MAX_OUTPUT_BYTES);
            in.transferTo(java.io.OutputStream.nullOutputStream());
            return new String(bytes, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}
