package dev.kelpie.cli.mcp;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.grpc.ManagedChannel;
import io.modelcontextprotocol.json.McpJsonMapper;
import io.modelcontextprotocol.json.jackson2.JacksonMcpJsonMapper;
import io.modelcontextprotocol.server.McpServer;
import io.modelcontextprotocol.server.McpServerFeatures.SyncToolSpecification;
import io.modelcontextprotocol.server.McpSyncServer;
import io.modelcontextprotocol.server.transport.StdioServerTransportProvider;
import io.modelcontextprotocol.spec.McpSchema;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * {@code kelpie mcp} over stdio: one MCP session per process, for the one client that started it. Returns when the
 * client's input ends, after the session's sandboxes were deleted (but for kept ones).
 */
public final class McpStdioServer {

    static final String INSTRUCTIONS = """
            Kelpie runs code in disposable Linux microVM sandboxes. Typical use: create_sandbox, then run_command, \
            write_file, read_file and list_directory with its sandbox_id; delete_sandbox when done. Files live in \
            /workspace. Sandboxes are deleted when this session ends unless created with keep: true; \
            snapshot_sandbox saves one for restore_sandbox. Errors come back as tool errors starting with a status \
            code such as NOT_FOUND or PERMISSION_DENIED, followed by the reason.""";

    private McpStdioServer() {}

    static McpJsonMapper json() {
        return new JacksonMcpJsonMapper(new ObjectMapper());
    }

    /**
     * Serves until {@code in} ends or the JVM shuts down.
     *
     * @param out the protocol's stream; nothing else may write to it
     * @param log where the session says what it did with the sandboxes (stderr)
     */
    public static void serve(ManagedChannel channel, McpLimits limits, String version, InputStream in, OutputStream out,
            PrintStream log) throws InterruptedException {
        McpJsonMapper json = json();
        SessionTools session = new SessionTools(json, limits, new DaemonStubs(channel), log);
        List<SyncToolSpecification> specs = session.tools().stream()
                .map(t -> new SyncToolSpecification(t.tool(), (exchange, request) -> t.call(request.arguments())))
                .toList();
        Thread onShutdown = new Thread(session::end, "kelpie-mcp-cleanup");
        Runtime.getRuntime().addShutdownHook(onShutdown);

        CountDownLatch inputEnded = new CountDownLatch(1);
        var transport = new StdioServerTransportProvider(json, new EndOfInput(in, inputEnded::countDown), out);
        McpSyncServer server = McpServer.sync(transport).jsonMapper(json).serverInfo("kelpie", version)
                .instructions(INSTRUCTIONS).capabilities(McpSchema.ServerCapabilities.builder().tools(false).build())
                .tools(specs).build();
        log.println("kelpie mcp: serving on stdio, session " + session.id() + " (label " + McpSession.SESSION_LABEL
                + "=" + session.id() + ")");
        inputEnded.await();
        session.end();
        server.close();
        try {
            Runtime.getRuntime().removeShutdownHook(onShutdown);
        } catch (IllegalStateException e) {
            // Already shutting down: the hook found the cleanup done.
        }
    }
}
