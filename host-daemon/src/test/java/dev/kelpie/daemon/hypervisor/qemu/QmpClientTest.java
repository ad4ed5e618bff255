package dev.kelpie.daemon.hypervisor.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.hypervisor.VmException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The QMP wire exchange against a scripted server: greeting, capabilities, then one command per connection. */
class QmpClientTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private ServerSocketChannel server;
    private final List<JsonNode> commands = new CopyOnWriteArrayList<>();

    /** Serves every connection: greets, acknowledges qmp_capabilities, and answers the command with {@code reply}. */
    private Path serve(Function<JsonNode, String> reply) throws IOException {
        Path socket = dir.resolve("qmp.sock");
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX).bind(UnixDomainSocketAddress.of(socket));
        Thread.ofVirtual().start(() -> {
            while (server.isOpen()) {
                try (SocketChannel client = server.accept()) {
                    BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(client),
                            StandardCharsets.UTF_8));
                    OutputStream out = Channels.newOutputStream(client);
                    send(out, "{\"QMP\": {\"version\": {}, \"capabilities\": []}}");
                    assertEquals("qmp_capabilities", JSON.readTree(in.readLine()).path("execute").asText());
                    send(out, "{\"return\": {}}");
                    JsonNode command = JSON.readTree(in.readLine());
                    commands.add(command);
                    // An event may come before the reply; the client must skip it.
                    send(out, "{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}");
                    send(out, reply.apply(command));
                } catch (IOException e) {
                    return;
                }
            }
        });
        return socket;
    }

    private static void send(OutputStream out, String line) throws IOException {
        out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    @AfterEach
    void stopServer() throws IOException {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void sendsArgumentsOnlyWhenThereAreSome() throws IOException {
        QmpClient qmp = new QmpClient(serve(c -> "{\"return\": {\"status\": \"completed\"}}"), JSON);

        assertEquals("completed", qmp.execute("query-migrate").path("status").asText());
        qmp.execute("migrate", Map.of("uri", "exec:cat > '/tmp/it'\\''s'"));
        qmp.execute("migrate-set-parameters", Map.of("max-bandwidth", 1L << 40));

        assertEquals(3, commands.size());
        assertFalse(commands.get(0).has("arguments"), commands.get(0).toString());
        assertEquals("migrate", commands.get(1).path("execute").asText());
        assertEquals("exec:cat > '/tmp/it'\\''s'", commands.get(1).path("arguments").path("uri").asText());
        assertEquals(1L << 40, commands.get(2).path("arguments").path("max-bandwidth").asLong());
    }

    @Test
    void anErrorReplyBecomesAVmExceptionWithQemusDescription() throws IOException {
        QmpClient qmp = new QmpClient(serve(c -> "{\"error\": {\"class\": \"GenericError\", \"desc\": \"There's a migration"
                + " process in progress\"}}"), JSON);

        VmException e = assertThrows(VmException.class, () -> qmp.execute("migrate", Map.of("uri", "exec:true")));
        assertTrue(e.getMessage().contains("QMP migrate failed: There's a migration process in progress"), e.getMessage());
    }
}
