package dev.kelpie.cli.mcp;

import io.modelcontextprotocol.json.McpJsonMapper;
import io.modelcontextprotocol.spec.McpSchema;
import io.modelcontextprotocol.spec.McpSchema.CallToolResult;
import java.util.Set;
import java.util.function.Function;

/**
 * One tool as the agent sees it (name, description, JSON schema of its arguments, hints) and the code behind it.
 * The schema is the one list of its arguments: the call refuses any other.
 */
record KelpieTool(McpSchema.Tool tool, Function<ToolArguments, CallToolResult> handler) {

    /** Hints a client shows or acts on (for example, asking before a destructive call). */
    enum Kind {
        READ_ONLY(true, false), CHANGES(false, false), DESTRUCTIVE(false, true);

        final boolean readOnly;
        final boolean destructive;

        Kind(boolean readOnly, boolean destructive) {
            this.readOnly = readOnly;
            this.destructive = destructive;
        }
    }

    static KelpieTool of(McpJsonMapper json, String name, String title, Kind kind, String description,
            String inputSchemaJson, Function<ToolArguments, CallToolResult> handler) {
        var tool = McpSchema.Tool.builder().name(name).title(title).description(description)
                .inputSchema(json, inputSchemaJson)
                .annotations(new McpSchema.ToolAnnotations(title, kind.readOnly, kind.destructive, false, false, false))
                .build();
        return new KelpieTool(tool, handler);
    }

    String name() {
        return tool.name();
    }

    Set<String> argumentNames() {
        return tool.inputSchema().get("properties") instanceof java.util.Map<?, ?> properties
                ? properties.keySet().stream().map(String::valueOf).collect(java.util.stream.Collectors.toSet()) : Set.of();
    }

    /** Runs the call; every failure becomes a tool result with isError set, never a protocol error. */
    CallToolResult call(java.util.Map<String, Object> arguments) {
        return ToolResults.guard(() -> handler.apply(new ToolArguments(arguments).allowOnly(argumentNames())));
    }
}
