package dev.kelpie.daemon.it;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Calls the daemon the way an operator would with {@code grpcurl -plaintext -unix}: buf's gRPC client over the Unix
 * socket, discovering everything through server reflection (no proto files given).
 */
final class BufCurl {

    /** Exit code, stdout and stderr of one call. */
    record Result(int exitCode, String stdout, String stderr) {
        Result requireSuccess() {
            if (exitCode != 0) {
                throw new AssertionError("buf curl failed with " + exitCode + ": " + stderr + stdout);
            }
            return this;
        }
    }

    private static final long CALL_TIMEOUT_SECONDS = 30;
    private final Path buf = Path.of(System.getProperty("kelpie.it.buf", "buf"));
    private final Path socket;

    BufCurl(Path socket) {
        this.socket = socket;
    }

    Result listMethods() {
        return run(List.of("--list-methods", "http://localhost"));
    }

    Result call(String method, String jsonRequest) {
        return run(List.of("-d", jsonRequest, "http://localhost/" + method));
    }

    private Result run(List<String> args) {
        List<String> cmd = new ArrayList<>(List.of(buf.toString(), "curl", "--protocol", "grpc", "--http2-prior-knowledge",
                "--unix-socket", socket.toString(), "--timeout", "20s"));
        cmd.addAll(args);
        try {
            Process p = new ProcessBuilder(cmd).start();
            p.getOutputStream().close();
            var out = p.getInputStream().readAllBytes();
            var err = p.getErrorStream().readAllBytes();
            if (!p.waitFor(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("buf curl did not finish: " + cmd);
            }
            return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new AssertionError("cannot run " + buf + " (install it with scripts/dev): " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
