package dev.kelpie.cli.mcp;

import io.grpc.Status;
import io.modelcontextprotocol.json.McpJsonMapper;
import io.modelcontextprotocol.spec.McpSchema.CallToolResult;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One MCP session: the sandboxes it owns, the tools bound to them, and the cleanup that deletes them when it ends.
 * Over stdio a process has one; over HTTP one per client session.
 */
final class SessionTools {

    private final McpSession session;
    private final Map<String, KelpieTool> byName = new LinkedHashMap<>();
    private final SessionCleanup cleanup;

    SessionTools(McpJsonMapper json, McpLimits limits, DaemonStubs daemon, PrintStream log) {
        this.session = new McpSession(limits.maxSandboxes());
        for (KelpieTool t : tools(json, session, limits, daemon)) {
            byName.put(t.name(), t);
        }
        this.cleanup = new SessionCleanup(session, daemon, log);
    }

    /** The tools of one session, in the order a client lists them. */
    static List<KelpieTool> tools(McpJsonMapper json, McpSession session, McpLimits limits, DaemonStubs daemon) {
        SandboxAdoption adoption = new SandboxAdoption(session, limits, daemon);
        List<KelpieTool> tools = new ArrayList<>();
        tools.addAll(new SandboxTools(session, limits, daemon, adoption).tools(json));
        tools.addAll(new CommandTools(session, limits, new CommandRunner(daemon)).tools(json));
        tools.addAll(new FileTools(session, limits, daemon).tools(json));
        tools.addAll(new PackageTools(session, daemon, adoption).tools(json));
        return tools;
    }

    String id() {
        return session.id();
    }

    List<KelpieTool> tools() {
        return List.copyOf(byName.values());
    }

    CallToolResult call(String tool, Map<String, Object> arguments) {
        KelpieTool t = byName.get(tool);
        if (t == null) {
            return ToolResults.error(Status.Code.NOT_FOUND, "no tool '" + tool + "'");
        }
        return t.call(arguments);
    }

    /** Ends the session: deletes its sandboxes but the kept ones. Runs once; a second caller waits for the first. */
    void end() {
        cleanup.run();
    }
}
