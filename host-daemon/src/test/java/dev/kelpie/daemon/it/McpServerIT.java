package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.GetSandboxRequest;
import dev.kelpie.api.v1.ListSandboxesRequest;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import io.grpc.ManagedChannel;
import io.modelcontextprotocol.client.McpClient;
import io.modelcontextprotocol.client.McpSyncClient;
import io.modelcontextprotocol.client.transport.HttpClientStreamableHttpTransport;
import io.modelcontextprotocol.client.transport.ServerParameters;
import io.modelcontextprotocol.client.transport.StdioClientTransport;
import io.modelcontextprotocol.json.jackson2.JacksonMcpJsonMapper;
import io.modelcontextprotocol.spec.McpSchema;
import io.modelcontextprotocol.spec.McpSchema.CallToolResult;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code kelpie mcp} as an agent's client runs it: the packaged CLI as a child process on stdio, driven by the MCP
 * Java SDK's own client and by the TypeScript SDK's (from npm, under node), against one real daemon with QEMU (TCG)
 * sandboxes. At most two VMs at once (two cores).
 */
class McpServerIT {

    private static final Duration CALL_TIMEOUT = Duration.ofMinutes(5);
    private static final Duration CLEANUP_TIMEOUT = Duration.ofSeconds(60);
    private static final Path KELPIE = Path.of(System.getProperty("kelpie.it.launcher", "bin/kelpied")).resolveSibling("kelpie");
    private static final Path APP_DIR = Path.of(System.getProperty("kelpie.it.appDir", "target/quarkus-app"));
    private static final Path TOOLS_DIR = Path.of(System.getProperty("kelpie.it.toolsDir", "../tools"));
    /** The operator's limits on the command line; the daemon's default memory (256 MiB here) is within them. */
    private static final List<String> LIMITS = List.of("--max-sandboxes", "2", "--max-memory-mib", "512",
            "--max-command-timeout", "60s");

    @TempDir
    static Path work;
    static DaemonProcess daemon;
    static UnixSocketChannels channels;
    static ManagedChannel channel;

    private final List<McpSyncClient> clients = new ArrayList<>();

    @BeforeAll
    static void startDaemon() throws Exception {
        String imageDir = System.getProperty("kelpie.it.imageDir", "");
        Assumptions.assumeFalse(imageDir.isBlank(), "no image given (-Dkelpie.imageDir=...; scripts/dev passes it)");
        daemon = DaemonProcess.startServing(work, "mcp", SandboxesIT.daemonArgs(imageDir));
        channels = new UnixSocketChannels();
        channel = channels.open(daemon.socket);
    }

    @AfterEach
    void closeClientsAndDeleteSandboxes() {
        clients.forEach(McpSyncClient::close);
        clients.clear();
        if (daemon != null) {
            for (Sandbox s : sandboxes().list(ListSandboxesRequest.getDefaultInstance()).getSandboxesList()) {
                sandboxes().delete(DeleteSandboxRequest.newBuilder().setId(s.getId()).build());
            }
        }
    }

    @AfterAll
    static void stopDaemon() throws Exception {
        if (channel != null) {
            channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
            channels.close();
        }
        if (daemon != null) {
            daemon.close();
        }
    }

    static SandboxesGrpc.SandboxesBlockingStub sandboxes() {
        return SandboxesGrpc.newBlockingStub(channel).withDeadlineAfter(Await.scaled(CALL_TIMEOUT).toMillis(),
                TimeUnit.MILLISECONDS);
    }

    /** Starts {@code kelpie mcp} through the SDK's stdio client and completes the MCP handshake. */
    private McpSyncClient connect(StringBuffer serverStderr) {
        List<String> args = new ArrayList<>(List.of("--socket", daemon.socket.toString(), "mcp"));
        args.addAll(LIMITS);
        ServerParameters server = ServerParameters.builder(KELPIE.toString()).args(args)
                .env(Map.of("KELPIE_APP_DIR", APP_DIR.toString())).build();
        var transport = new StdioClientTransport(server, new JacksonMcpJsonMapper(new ObjectMapper()));
        transport.setStdErrorHandler(line -> serverStderr.append(line).append('\n'));
        McpSyncClient client = McpClient.sync(transport).requestTimeout(Await.scaled(CALL_TIMEOUT))
                .initializationTimeout(Await.scaled(Duration.ofSeconds(60))).build();
        clients.add(client);
        client.initialize();
        return client;
    }

    private static CallToolResult call(McpSyncClient client, String tool, Map<String, Object> args) {
        return client.callTool(new McpSchema.CallToolRequest(tool, args));
    }

    private static CallToolResult ok(McpSyncClient client, String tool, Map<String, Object> args) {
        CallToolResult result = call(client, tool, args);
        assertFalse(Boolean.TRUE.equals(result.isError()), tool + " failed: " + text(result));
        return result;
    }

    private static String text(CallToolResult result) {
        return result.content().stream().filter(c -> c instanceof McpSchema.TextContent)
                .map(c -> ((McpSchema.TextContent) c).text()).collect(Collectors.joining("\n"));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> structured(CallToolResult result) {
        return (Map<String, Object>) result.structuredContent();
    }

    private static List<Sandbox> sessionSandboxes(String sessionId) {
        return sandboxes().list(ListSandboxesRequest.newBuilder().putLabelSelector("kelpie.mcp/session", sessionId)
                .build()).getSandboxesList();
    }

    @Test
    void anAgentSessionRunsCommandsAndFilesAndItsSandboxesGoWithIt() {
        StringBuffer stderr = new StringBuffer();
        McpSyncClient client = connect(stderr);

        Set<String> tools = client.listTools().tools().stream().map(McpSchema.Tool::name).collect(Collectors.toSet());
        assertEquals(Set.of("create_sandbox", "list_sandboxes", "delete_sandbox", "run_command", "list_directory",
                "read_file", "write_file", "snapshot_sandbox", "restore_sandbox", "fork_sandbox"), tools);

        String id = (String) structured(ok(client, "create_sandbox", Map.of())).get("sandbox_id");
        String sessionId = sandboxes().get(GetSandboxRequest.newBuilder().setId(id).build()).getSandbox().getSpec()
                .getLabelsMap().get("kelpie.mcp/session");
        assertEquals(List.of(id), sessionSandboxes(sessionId).stream().map(Sandbox::getId).toList());

        // a command, with its exit code and both streams
        var run = structured(ok(client, "run_command", Map.of("sandbox_id", id,
                "shell", "echo out; echo err >&2; exit 3")));
        assertEquals(3, ((Number) run.get("exit_code")).intValue());
        assertEquals("out\n", run.get("stdout"));
        assertEquals("err\n", run.get("stderr"));

        // output past the caller's size is cut, with a marker saying so
        var chatty = ok(client, "run_command", Map.of("sandbox_id", id, "command", List.of("seq", "1", "10000"),
                "max_output_bytes", 100));
        assertEquals(true, structured(chatty).get("stdout_truncated"));
        assertTrue(text(chatty).contains("[kelpie: stdout truncated: showing the first 100 of"), text(chatty));

        // a file written, listed and read back
        ok(client, "write_file", Map.of("sandbox_id", id, "path", "notes/hello.txt", "content", "héllo\nworld\n"));
        assertTrue(text(ok(client, "list_directory", Map.of("sandbox_id", id, "path", "notes"))).contains("hello.txt"));
        assertEquals("héllo\nworld\n", structured(ok(client, "read_file", Map.of("sandbox_id", id,
                "path", "/workspace/notes/hello.txt"))).get("content"));

        // a command that outlives its timeout is killed and said to be
        var slow = ok(client, "run_command", Map.of("sandbox_id", id, "command", List.of("sleep", "30"),
                "timeout_seconds", 2));
        assertEquals(true, structured(slow).get("timed_out"), text(slow));
        assertTrue(text(slow).startsWith("TIMED OUT"), text(slow));

        // errors are tool results with the status code: the daemon's, and the session's own
        CallToolResult badImage = call(client, "create_sandbox", Map.of("image_version", "99.0.0"));
        assertTrue(badImage.isError(), text(badImage));
        assertTrue(text(badImage).startsWith("NOT_FOUND: ") || text(badImage).startsWith("INVALID_ARGUMENT: "),
                text(badImage));
        CallToolResult missingFile = call(client, "read_file", Map.of("sandbox_id", id, "path", "no/such/file"));
        assertTrue(missingFile.isError() && text(missingFile).startsWith("NOT_FOUND: "), text(missingFile));
        CallToolResult unknownSandbox = call(client, "run_command", Map.of("sandbox_id", "sbx-nope", "command",
                List.of("true")));
        assertTrue(unknownSandbox.isError() && text(unknownSandbox).startsWith("NOT_FOUND: "), text(unknownSandbox));
        CallToolResult tooBig = call(client, "create_sandbox", Map.of("memory_mib", 4096));
        assertTrue(tooBig.isError(), text(tooBig));

        // a checkpoint restored into a new sandbox of the session has the file; delete_sandbox removes it
        String packageId = (String) structured(ok(client, "snapshot_sandbox", Map.of("sandbox_id", id)))
                .get("package_id");
        String restored = (String) structured(ok(client, "restore_sandbox", Map.of("package_id", packageId)))
                .get("sandbox_id");
        assertEquals("héllo\nworld\n", structured(ok(client, "read_file", Map.of("sandbox_id", restored,
                "path", "notes/hello.txt"))).get("content"));
        ok(client, "delete_sandbox", Map.of("sandbox_id", restored));
        assertEquals(List.of(id), sessionSandboxes(sessionId).stream().map(Sandbox::getId).toList());

        // a fork continues from the source's files; copies past the session's limit are refused, those made stay
        CallToolResult forked = call(client, "fork_sandbox", Map.of("sandbox_id", id, "count", 2));
        assertTrue(forked.isError() && text(forked).startsWith("RESOURCE_EXHAUSTED: 1 of 2 copies were made ("),
                text(forked));
        String copy = sessionSandboxes(sessionId).stream().map(Sandbox::getId).filter(s -> !s.equals(id)).findFirst()
                .orElseThrow();
        assertTrue(text(forked).contains(copy), text(forked));
        ok(client, "write_file", Map.of("sandbox_id", copy, "path", "notes/hello.txt", "content", "copy\n"));
        assertEquals("copy\n", structured(ok(client, "read_file", Map.of("sandbox_id", copy,
                "path", "notes/hello.txt"))).get("content"));
        assertEquals("héllo\nworld\n", structured(ok(client, "read_file", Map.of("sandbox_id", id,
                "path", "notes/hello.txt"))).get("content"));
        ok(client, "delete_sandbox", Map.of("sandbox_id", copy));

        // a sandbox the agent asked to keep outlives the session; the other goes with it
        String kept = (String) structured(ok(client, "create_sandbox", Map.of("keep", true))).get("sandbox_id");
        assertTrue(text(ok(client, "list_sandboxes", Map.of())).contains(kept));
        CallToolResult third = call(client, "create_sandbox", Map.of());
        assertTrue(third.isError() && text(third).startsWith("RESOURCE_EXHAUSTED: "), text(third));

        client.closeGracefully();
        Await.until("the session's sandboxes to be deleted", CLEANUP_TIMEOUT,
                () -> sessionSandboxes(sessionId).stream().map(Sandbox::getId).toList().equals(List.of(kept)),
                () -> "left: " + sessionSandboxes(sessionId) + "\nkelpie mcp's stderr:\n" + stderr);
    }

    /** The end of stdin, without SIGTERM, ends the session too: raw JSON-RPC lines, then stdin closed. */
    @Test
    void closingStdinEndsTheSessionAndDeletesItsSandboxes() throws Exception {
        List<String> cmd = new ArrayList<>(List.of(KELPIE.toString(), "--socket", daemon.socket.toString(), "mcp"));
        cmd.addAll(LIMITS);
        Path err = Files.createTempFile(work, "mcp", ".err");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(err.toFile());
        pb.environment().put("KELPIE_APP_DIR", APP_DIR.toString());
        Process server = pb.start();
        try (var in = new java.io.BufferedReader(new java.io.InputStreamReader(server.getInputStream(),
                StandardCharsets.UTF_8)); var out = server.getOutputStream()) {
            for (String line : List.of(
                    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                            + "\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"raw\",\"version\":\"1\"}}}",
                    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
                    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"
                            + "\"create_sandbox\",\"arguments\":{}}}")) {
                out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
            }
            out.flush();
            String created = null;
            String line;
            while (created == null && (line = in.readLine()) != null) {
                var message = new ObjectMapper().readTree(line);
                if (message.path("id").asInt() == 2) {
                    assertFalse(message.path("result").path("isError").asBoolean(), line);
                    created = message.path("result").path("structuredContent").path("sandbox_id").asText();
                }
            }
            assertTrue(created != null && !created.isEmpty(), "no create result; stderr:\n" + read(err));
            String sessionId = sandboxes().get(GetSandboxRequest.newBuilder().setId(created).build()).getSandbox()
                    .getSpec().getLabelsMap().get("kelpie.mcp/session");
            out.close();
            assertTrue(server.waitFor(Await.scaled(CLEANUP_TIMEOUT).toMillis(), TimeUnit.MILLISECONDS),
                    "kelpie mcp did not exit after its stdin ended:\n" + read(err));
            assertEquals(0, server.exitValue(), read(err));
            assertEquals(List.of(), sessionSandboxes(sessionId), read(err));
            assertTrue(read(err).contains("deleted sandbox " + created), read(err));
        } finally {
            server.destroyForcibly();
        }
    }

    @Test
    void theTypeScriptSdkClientCreatesRunsAndDeletes() throws Exception {
        Path script = TOOLS_DIR.resolve("mcp-client-check.mjs");
        Assumptions.assumeTrue(Files.isDirectory(TOOLS_DIR.resolve("node_modules/@modelcontextprotocol/sdk")),
                "the MCP TypeScript SDK is not installed (scripts/dev setup: npm ci in tools/)");
        List<String> cmd = new ArrayList<>(List.of("node", script.toString(), KELPIE.toString(),
                daemon.socket.toString()));
        cmd.addAll(LIMITS);
        Path out = Files.createTempFile(work, "node", ".out");
        Path err = Files.createTempFile(work, "node", ".err");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        pb.environment().put("KELPIE_APP_DIR", APP_DIR.toString());
        Process node = pb.start();
        if (!node.waitFor(Await.scaled(CALL_TIMEOUT).toMillis(), TimeUnit.MILLISECONDS)) {
            node.destroyForcibly();
            throw new AssertionError("the node client did not finish:\n" + read(out) + read(err));
        }
        String stdout = read(out);
        assertEquals(0, node.exitValue(), stdout + "\n" + read(err));
        Map<String, String> lines = stdout.lines().filter(l -> l.contains(": "))
                .collect(Collectors.toMap(l -> l.substring(0, l.indexOf(": ")), l -> l.substring(l.indexOf(": ") + 2),
                        (a, b) -> b));
        assertTrue(lines.get("server").startsWith("kelpie "), stdout);
        assertTrue(lines.get("tools").contains("create_sandbox") && lines.get("tools").contains("run_command"), stdout);
        assertEquals("0", lines.get("exit_code"), stdout);
        assertEquals("hello from node", lines.get("stdout"), stdout);
        assertEquals(lines.get("created"), lines.get("deleted"), stdout);
        assertTrue(stdout.contains("closed"), stdout);
        assertTrue(sandboxes().list(ListSandboxesRequest.getDefaultInstance()).getSandboxesList().isEmpty());
    }

    /** {@code kelpie mcp --http 0} as a child process, with its URL read from its stderr. */
    private record HttpServer(Process process, URI endpoint, Path stderr) implements AutoCloseable {
        static HttpServer start(Path work, Duration idleTimeout) throws IOException {
            List<String> cmd = new ArrayList<>(List.of(KELPIE.toString(), "--socket", daemon.socket.toString(), "mcp",
                    "--http", "0", "--http-idle-timeout", idleTimeout.toSeconds() + "s"));
            cmd.addAll(LIMITS);
            Path err = Files.createTempFile(work, "mcp-http", ".err");
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(err.toFile())
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD);
            pb.environment().put("KELPIE_APP_DIR", APP_DIR.toString());
            Process p = pb.start();
            java.util.regex.Pattern url = java.util.regex.Pattern.compile("serving Streamable HTTP at (http://\\S+)");
            String[] found = new String[1];
            Await.until("kelpie mcp --http to listen", Duration.ofSeconds(60), () -> {
                var m = url.matcher(readQuietly(err));
                return !p.isAlive() || (m.find() && (found[0] = m.group(1)) != null);
            }, () -> readQuietly(err));
            if (found[0] == null) {
                throw new AssertionError("kelpie mcp --http exited:\n" + readQuietly(err));
            }
            return new HttpServer(p, URI.create(found[0]), err);
        }

        String log() {
            return readQuietly(stderr);
        }

        @Override
        public void close() {
            process.destroyForcibly();
        }
    }

    private static String readQuietly(Path file) {
        try {
            return read(file);
        } catch (IOException e) {
            return e.toString();
        }
    }

    private static String labelOf(String sandboxId) {
        return sandboxes().get(GetSandboxRequest.newBuilder().setId(sandboxId).build()).getSandbox().getSpec()
                .getLabelsMap().get("kelpie.mcp/session");
    }

    /**
     * Streamable HTTP on loopback: the Java SDK's HTTP client drives a session, a second session (a bare client that
     * walks away) cannot reach the first's sandbox, foreign Origin and Host headers are refused, the Java client's
     * close (DELETE) deletes its sandboxes, the walked-away session's are deleted once it has been idle and its id
     * gets 404, and SIGTERM ends the sessions still open.
     */
    @Test
    void overHttpEachSessionHasItsOwnSandboxesWhichGoWhenItEnds() throws Exception {
        Duration idle = Duration.ofSeconds(5);
        try (HttpServer server = HttpServer.start(work, idle)) {
            RawMcpHttp raw = new RawMcpHttp(server.endpoint());

            // DNS-rebinding protection: a foreign Origin (403) or Host (421) gets nowhere, not even a session
            HttpResponse<String> foreignOrigin = raw.post(null, RawMcpHttp.INITIALIZE,
                    Map.of("Origin", "http://evil.example"));
            assertEquals(403, foreignOrigin.statusCode(), foreignOrigin.body());
            assertTrue(foreignOrigin.headers().firstValue("Mcp-Session-Id").isEmpty());
            assertEquals(421, raw.statusWithHost("evil.example:" + server.endpoint().getPort()));
            assertEquals(200, raw.post(null, RawMcpHttp.INITIALIZE, Map.of("Origin", "http://localhost:"
                    + server.endpoint().getPort())).statusCode());

            // a bare session creates a sandbox, then walks away without DELETE
            String walkedAway = raw.initialize();
            JsonNode created = RawMcpHttp.answer(raw.post(walkedAway, RawMcpHttp.toolCall(2, "create_sandbox", "{}"),
                    Map.of()));
            assertFalse(created.path("result").path("isError").asBoolean(), created.toString());
            String abandoned = created.path("result").path("structuredContent").path("sandbox_id").asText();
            String abandonedLabel = labelOf(abandoned);

            // the Java SDK's client over HTTP: its own sandbox, and not the other session's
            var transport = HttpClientStreamableHttpTransport.builder(server.endpoint().resolve("/").toString())
                    .endpoint(server.endpoint().getPath()).jsonMapper(new JacksonMcpJsonMapper(new ObjectMapper()))
                    .build();
            McpSyncClient client = McpClient.sync(transport).requestTimeout(Await.scaled(CALL_TIMEOUT))
                    .initializationTimeout(Await.scaled(Duration.ofSeconds(60))).build();
            clients.add(client);
            client.initialize();
            assertEquals(10, client.listTools().tools().size());
            String id = (String) structured(ok(client, "create_sandbox", Map.of())).get("sandbox_id");
            assertEquals("hi\n", structured(ok(client, "run_command", Map.of("sandbox_id", id,
                    "command", List.of("echo", "hi")))).get("stdout"));
            CallToolResult notMine = call(client, "run_command", Map.of("sandbox_id", abandoned,
                    "command", List.of("true")));
            assertTrue(notMine.isError() && text(notMine).startsWith("NOT_FOUND: "), text(notMine));
            String label = labelOf(id);
            assertFalse(label.equals(abandonedLabel));
            client.closeGracefully();
            Await.until("the closed HTTP session's sandbox to be deleted", CLEANUP_TIMEOUT,
                    () -> sessionSandboxes(label).isEmpty(), server::log);

            // the session nobody ended goes once idle, and its id is refused from then on
            Await.until("the idle session's sandbox to be deleted", CLEANUP_TIMEOUT.plus(idle),
                    () -> sessionSandboxes(abandonedLabel).isEmpty(), server::log);
            assertEquals(404, raw.post(walkedAway, RawMcpHttp.toolCall(3, "list_sandboxes", "{}"), Map.of())
                    .statusCode());

            // SIGTERM ends the sessions still open
            String open = raw.initialize();
            JsonNode last = RawMcpHttp.answer(raw.post(open, RawMcpHttp.toolCall(2, "create_sandbox", "{}"),
                    Map.of()));
            String lastLabel = labelOf(last.path("result").path("structuredContent").path("sandbox_id").asText());
            server.process().destroy();
            assertTrue(server.process().waitFor(Await.scaled(CLEANUP_TIMEOUT).toMillis(), TimeUnit.MILLISECONDS),
                    server.log());
            assertEquals(List.of(), sessionSandboxes(lastLabel), server.log());
        }
    }

    /** The TypeScript SDK's StreamableHTTPClientTransport; its terminateSession (DELETE) deletes the sandbox. */
    @Test
    void theTypeScriptSdkClientOverHttpCreatesRunsAndEndsItsSession() throws Exception {
        Path script = TOOLS_DIR.resolve("mcp-client-check.mjs");
        Assumptions.assumeTrue(Files.isDirectory(TOOLS_DIR.resolve("node_modules/@modelcontextprotocol/sdk")),
                "the MCP TypeScript SDK is not installed (scripts/dev setup: npm ci in tools/)");
        try (HttpServer server = HttpServer.start(work, Duration.ofMinutes(30))) {
            Path out = Files.createTempFile(work, "node-http", ".out");
            Path err = Files.createTempFile(work, "node-http", ".err");
            Process node = new ProcessBuilder("node", script.toString(), server.endpoint().toString())
                    .redirectOutput(out.toFile()).redirectError(err.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
            if (!node.waitFor(Await.scaled(CALL_TIMEOUT).toMillis(), TimeUnit.MILLISECONDS)) {
                node.destroyForcibly();
                throw new AssertionError("the node client did not finish:\n" + read(out) + read(err));
            }
            String stdout = read(out);
            assertEquals(0, node.exitValue(), stdout + "\n" + read(err) + "\n" + server.log());
            assertTrue(stdout.contains("stdout: hello from node"), stdout);
            assertTrue(stdout.contains("terminated: ") && stdout.contains("closed"), stdout);
            // the DELETE is answered once the session's sandboxes are gone
            assertTrue(sandboxes().list(ListSandboxesRequest.getDefaultInstance()).getSandboxesList().isEmpty(),
                    server.log());
        }
    }

    private static String read(Path file) throws IOException {
        return Files.readString(file, StandardCharsets.UTF_8);
    }
}
