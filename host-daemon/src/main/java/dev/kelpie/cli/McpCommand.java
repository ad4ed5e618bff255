package dev.kelpie.cli;

import dev.kelpie.cli.mcp.McpHttpServer;
import dev.kelpie.cli.mcp.McpLimits;
import dev.kelpie.cli.mcp.McpStdioServer;
import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * {@code kelpie mcp}: an MCP server on stdin/stdout for an AI agent, with tools over this daemon's sandboxes. The
 * options are the operator's limits on what the agent may ask for.
 */
@Command(name = "mcp", mixinStandardHelpOptions = true, description = "Serve the Model Context Protocol on stdin/stdout"
        + " (or, with --http, Streamable HTTP on loopback): sandbox tools for an AI agent, within the limits set here."
        + " Sandboxes the agent creates are deleted when the session ends (unless it asked to keep them).")
final class McpCommand implements Callable<Integer> {

    @ParentCommand
    KelpieCli cli;

    @Option(names = "--max-sandboxes", description = "sandboxes the session may have at once (default ${DEFAULT-VALUE})")
    int maxSandboxes = 4;

    @Option(names = "--max-vcpus", description = "virtual CPUs per sandbox (default ${DEFAULT-VALUE})")
    int maxVcpus = 2;

    @Option(names = "--max-memory-mib", description = "guest memory per sandbox, MiB (default ${DEFAULT-VALUE})")
    int maxMemoryMib = 2048;

    @Option(names = "--max-disk-mib", description = "writable disk per sandbox, MiB (default ${DEFAULT-VALUE})")
    int maxDiskMib = 8192;

    @Option(names = "--allow-egress", paramLabel = "DEST", split = ",", description = "destinations sandboxes may be"
            + " opened to (host, *.domain, IP or CIDR, optional :PORT; repeatable). '" + McpLimits.ANY_DESTINATION
            + "' lets the agent choose any public address. Default: none, no network")
    List<String> allowEgress = List.of();

    @Option(names = "--max-command-timeout", converter = DurationConverter.class, description = "the longest a"
            + " command may run, e.g. 10m (default ${DEFAULT-VALUE})")
    Duration maxCommandTimeout = Duration.ofMinutes(10);

    @Option(names = "--max-output-bytes", description = "the most a command's stdout (and stderr) or a file read"
            + " returns (default ${DEFAULT-VALUE})")
    long maxOutputBytes = 1024 * 1024;

    @Option(names = "--http", paramLabel = "PORT", description = "serve Streamable HTTP at http://HOST:PORT/mcp"
            + " instead of stdio (0 picks a free port; the URL is printed on stderr). Each client session has its own"
            + " sandboxes and limits")
    Integer httpPort;

    @Option(names = "--http-host", paramLabel = "HOST", description = "loopback address or name to bind with --http"
            + " (default ${DEFAULT-VALUE}); other addresses are refused: the server has no authentication")
    String httpHost = "127.0.0.1";

    @Option(names = "--allow-origin", paramLabel = "ORIGIN", split = ",", description = "with --http, a browser origin"
            + " that may call the server besides its own, e.g. http://localhost:6274 (repeatable; 'http://host:*' for"
            + " any port). Requests from other origins get 403 (DNS-rebinding protection)")
    List<String> allowOrigins = List.of();

    @Option(names = "--http-idle-timeout", converter = DurationConverter.class, description = "with --http, a session"
            + " with no request and no open stream for this long ends and its sandboxes are deleted (default"
            + " ${DEFAULT-VALUE})")
    Duration httpIdleTimeout = Duration.ofMinutes(30);

    @Override
    public Integer call() throws Exception {
        if (maxSandboxes < 1 || maxVcpus < 1 || maxMemoryMib < 1 || maxDiskMib < 1 || maxOutputBytes < 1
                || maxCommandTimeout.toSeconds() < 1) {
            throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this),
                    "limits must be positive (timeouts at least 1s)");
        }
        McpLimits limits = new McpLimits(maxSandboxes, maxVcpus, maxMemoryMib, maxDiskMib, allowEgress,
                maxCommandTimeout, maxOutputBytes);
        String version = KelpieCli.class.getAnnotation(Command.class).version()[0].replace("kelpie ", "");
        if (httpPort != null) {
            if (httpPort < 0 || httpPort > 65535) {
                throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this),
                        "--http: port " + httpPort + " is not between 0 and 65535");
            }
            if (!McpHttpServer.isLoopback(httpHost)) {
                throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this), "--http-host "
                        + httpHost + " is not a loopback address: the MCP server has no authentication, so it listens"
                        + " on loopback only (use ssh -L to reach it from elsewhere)");
            }
            if (httpIdleTimeout.toSeconds() < 1) {
                throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this),
                        "--http-idle-timeout must be at least 1s");
            }
            McpHttpServer.serve(cli.channel(), limits, version,
                    new McpHttpServer.Options(httpHost, httpPort, allowOrigins, httpIdleTimeout), System.err);
            return 0;
        }
        // stdout carries the protocol alone: whatever else would print there (a library's notice) goes to stderr.
        var protocol = new BufferedOutputStream(new FileOutputStream(FileDescriptor.out));
        System.setOut(System.err);
        McpStdioServer.serve(cli.channel(), limits, version, System.in, protocol, System.err);
        return 0;
    }
}
