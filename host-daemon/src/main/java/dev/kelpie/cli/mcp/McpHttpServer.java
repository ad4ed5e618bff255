package dev.kelpie.cli.mcp;

import io.grpc.ManagedChannel;
import io.modelcontextprotocol.json.McpJsonMapper;
import io.modelcontextprotocol.server.McpServer;
import io.modelcontextprotocol.server.McpServerFeatures.SyncToolSpecification;
import io.modelcontextprotocol.server.McpSyncServer;
import io.modelcontextprotocol.server.transport.HttpServletStreamableServerTransportProvider;
import io.modelcontextprotocol.spec.McpSchema;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.stream.Stream;
import org.apache.catalina.Context;
import org.apache.catalina.LifecycleException;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.startup.Tomcat;
import org.apache.tomcat.util.descriptor.web.FilterDef;
import org.apache.tomcat.util.descriptor.web.FilterMap;

/**
 * {@code kelpie mcp --http}: the MCP SDK's Streamable HTTP transport (a servlet) in an embedded Tomcat bound to a
 * loopback address, one MCP session per client session, each with its own sandboxes (ADR 0027). Serves until
 * the JVM shuts down (SIGTERM, SIGINT), then ends every session, deleting its sandboxes but kept ones.
 */
public final class McpHttpServer {

    /** The path clients post to, the transport's usual one. */
    public static final String ENDPOINT = "/mcp";

    /** Options of the HTTP transport; the operator's limits are in {@link McpLimits}. */
    public record Options(String host, int port, List<String> allowedOrigins, Duration idleTimeout) {}

    // Tomcat logs through java.util.logging; its start-up notes would bury the one line a user needs.
    private static final Logger TOMCAT_LOG = Logger.getLogger("org.apache");

    private McpHttpServer() {}

    /** Whether {@code host} names loopback only, the one place this server may listen. */
    public static boolean isLoopback(String host) {
        return LoopbackGuard.isLoopback(host);
    }

    /** Serves until the JVM shuts down. */
    public static void serve(ManagedChannel channel, McpLimits limits, String version, Options options,
            PrintStream log) throws IOException, LifecycleException, InterruptedException {
        TOMCAT_LOG.setLevel(Level.WARNING);
        McpJsonMapper json = McpStdioServer.json();
        DaemonStubs daemon = new DaemonStubs(channel);
        HttpSessions sessions = new HttpSessions(() -> new SessionTools(json, limits, daemon, log),
                options.idleTimeout(), System::nanoTime, log);
        // The tools' names and schemas do not depend on the session: list them from one that never runs a tool.
        List<SyncToolSpecification> specs = new SessionTools(json, limits, daemon, log).tools().stream()
                .map(t -> new SyncToolSpecification(t.tool(),
                        (exchange, request) -> sessions.call(exchange.sessionId(), t.name(), request.arguments())))
                .toList();

        LoopbackGuard guard = new LoopbackGuard(options.host(), options.allowedOrigins());
        var transport = HttpServletStreamableServerTransportProvider.builder().jsonMapper(json).mcpEndpoint(ENDPOINT)
                .securityValidator(guard).sessionSweepInterval(options.idleTimeout()).build();
        McpSyncServer server = McpServer.sync(transport).jsonMapper(json).serverInfo("kelpie", version)
                .instructions(McpStdioServer.INSTRUCTIONS)
                .capabilities(McpSchema.ServerCapabilities.builder().tools(false).build()).tools(specs).build();

        Path base = Files.createTempDirectory("kelpie-mcp-http");
        Tomcat tomcat = new Tomcat();
        tomcat.setBaseDir(base.toString());
        Connector connector = new Connector();
        connector.setPort(options.port());
        connector.setProperty("address", options.host());
        tomcat.setConnector(connector);
        Context context = tomcat.addContext("", base.toString());
        Tomcat.addServlet(context, "mcp", transport).setAsyncSupported(true);
        context.addServletMappingDecoded(ENDPOINT, "mcp");
        FilterDef filter = new FilterDef();
        filter.setFilterName("sessions");
        filter.setFilter(new SessionRequests(sessions));
        filter.setAsyncSupported("true");
        context.addFilterDef(filter);
        FilterMap mapping = new FilterMap();
        mapping.setFilterName("sessions");
        mapping.addURLPatternDecoded(ENDPOINT);
        context.addFilterMap(mapping);
        tomcat.start();
        int port = connector.getLocalPort();
        if (port <= 0) {
            tomcat.stop();
            tomcat.destroy();
            deleteTree(base);
            throw new IOException("could not listen on " + options.host() + ":" + options.port());
        }
        guard.listeningOn(port);

        ScheduledExecutorService sweeper = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "kelpie-mcp-idle-sweep");
            t.setDaemon(true);
            return t;
        });
        long everyMs = Math.max(1000, options.idleTimeout().toMillis() / 10);
        sweeper.scheduleWithFixedDelay(() -> {
            try {
                sessions.sweep();
            } catch (RuntimeException e) {
                // A scheduled task that throws is never run again: idle sessions would then live until the stop.
                log.println("kelpie mcp: the idle-session sweep failed, will try again: " + e);
            }
        }, everyMs, everyMs, TimeUnit.MILLISECONDS);

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                sweeper.shutdownNow();
                connector.pause(); // no new sessions while the present ones end
                sessions.endAll();
                server.close();
                tomcat.stop();
                tomcat.destroy();
            } catch (LifecycleException | RuntimeException e) {
                log.println("kelpie mcp: stopping the HTTP server: " + e);
            } finally {
                deleteTree(base);
                stopped.countDown();
            }
        }, "kelpie-mcp-http-stop"));
        String host = options.host().contains(":") ? "[" + options.host() + "]" : options.host();
        log.println("kelpie mcp: serving Streamable HTTP at http://" + host + ":" + port + ENDPOINT
                + " (sessions end on DELETE, after " + options.idleTimeout().toSeconds() + " s idle, or when this"
                + " process stops)");
        stopped.await();
    }

    private static void deleteTree(Path root) {
        try (Stream<Path> all = Files.walk(root)) {
            all.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // A temp dir left behind is harmless; the server is going away.
        }
    }
}
