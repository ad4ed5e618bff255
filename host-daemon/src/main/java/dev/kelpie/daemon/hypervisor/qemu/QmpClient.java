package dev.kelpie.daemon.hypervisor.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kelpie.daemon.hypervisor.VmException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs one QMP command per connection. QEMU's QMP socket serves one client at a time; a connection per command keeps
 * no state in the daemon that a restart could lose, and costs well under a millisecond.
 */
final class QmpClient {

    static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(5);

    private final Path socket;
    private final ObjectMapper json;

    QmpClient(Path socket, ObjectMapper json) {
        this.socket = socket;
        this.json = json;
    }

    /** Executes {@code command} without arguments and returns its {@code return} value. */
    JsonNode execute(String command) {
        return execute(command, Map.of());
    }

    /** Executes {@code command} with {@code arguments} (QMP's {@code arguments} object); returns its {@code return}. */
    JsonNode execute(String command, Map<String, ?> arguments) {
        return execute(command, arguments, COMMAND_TIMEOUT);
    }

    /** As {@link #execute(String, Map)}, for a command that may take longer than {@link #COMMAND_TIMEOUT}. */
    JsonNode execute(String command, Map<String, ?> arguments, Duration timeout) {
        FutureTask<JsonNode> task = new FutureTask<>(() -> exchange(command, arguments));
        Thread.ofVirtual().name("qmp-" + command).start(task);
        try {
            return task.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            cancel(task);
            throw new VmException("QMP " + command + " on " + socket + " did not answer within "
                    + timeout.toMillis() + " ms");
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            throw cause instanceof VmException vm ? vm
                    : new VmException("QMP " + command + " on " + socket + " failed: " + cause.getMessage(), cause);
        } catch (InterruptedException e) {
            cancel(task);
            Thread.currentThread().interrupt();
            throw new VmException("interrupted during QMP " + command);
        }
    }

    private static void cancel(Future<?> task) {
        task.cancel(true);
    }

    private JsonNode exchange(String command, Map<String, ?> arguments) throws IOException {
        try (SocketChannel channel = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
            OutputStream out = Channels.newOutputStream(channel);
            JsonNode greeting = readMessage(in);
            if (!greeting.has("QMP")) {
                throw new VmException("QMP on " + socket + " sent no greeting: " + greeting);
            }
            call(in, out, "qmp_capabilities", Map.of());
            return call(in, out, command, arguments);
        }
    }

    private JsonNode call(BufferedReader in, OutputStream out, String command, Map<String, ?> arguments)
            throws IOException {
        ObjectNode request = json.createObjectNode().put("execute", command);
        if (!arguments.isEmpty()) {
            request.set("arguments", json.valueToTree(arguments));
        }
        out.write(json.writeValueAsBytes(request));
        out.write('\n');
        out.flush();
        while (true) {
            JsonNode reply = readMessage(in);
            if (reply.has("return")) {
                return reply.get("return");
            }
            if (reply.has("error")) {
                throw new VmException("QMP " + command + " failed: " + reply.get("error").path("desc").asText(reply.toString()));
            }
            // Asynchronous events (STOP, RESUME, ...) interleave with replies; they are not ours.
        }
    }

    private JsonNode readMessage(BufferedReader in) throws IOException {
        String line = in.readLine();
        if (line == null) {
            throw new VmException("QMP on " + socket + " closed the connection");
        }
        return json.readTree(line);
    }
}
