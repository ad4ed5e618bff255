package dev.kelpie.cli.mcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.modelcontextprotocol.spec.McpSchema;
import io.modelcontextprotocol.spec.McpSchema.CallToolResult;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The tools as a client lists them, and their errors, without a daemon (the channel leads nowhere). */
class KelpieToolsTest {

    private final ManagedChannel nowhere = InProcessChannelBuilder.forName("no-daemon-" + System.nanoTime()).build();
    private final McpLimits limits = new McpLimits(1, 2, 1024, 4096, List.of("pypi.org"), Duration.ofMinutes(5), 1000);
    private final McpSession session = new McpSession(limits.maxSandboxes());
    private final Map<String, KelpieTool> tools = SessionTools.tools(McpStdioServer.json(), session, limits,
            new DaemonStubs(nowhere)).stream().collect(Collectors.toMap(KelpieTool::name, t -> t));

    @AfterEach
    void close() {
        nowhere.shutdownNow();
    }

    private static String text(CallToolResult r) {
        return ((McpSchema.TextContent) r.content().getFirst()).text();
    }

    @Test
    void everyToolHasADescribedClosedSchemaAndHints() {
        assertEquals(10, tools.size());
        for (KelpieTool t : tools.values()) {
            McpSchema.Tool tool = t.tool();
            assertTrue(tool.name().matches("[a-z_]{1,64}"), tool.name());
            assertTrue(tool.description().length() > 40, tool.name() + ": a description a model can go by");
            Map<String, Object> schema = tool.inputSchema();
            assertEquals("object", schema.get("type"), tool.name());
            assertEquals(false, schema.get("additionalProperties"), tool.name() + ": unknown arguments refused");
            @SuppressWarnings("unchecked")
            var properties = (Map<String, Map<String, Object>>) schema.get("properties");
            properties.forEach((name, p) -> assertTrue(p.containsKey("description") && p.containsKey("type"),
                    tool.name() + "." + name + " needs a type and a description"));
            @SuppressWarnings("unchecked")
            var required = (List<String>) schema.getOrDefault("required", List.of());
            assertTrue(properties.keySet().containsAll(required), tool.name() + ": required arguments are described");
            assertTrue(tool.annotations() != null && tool.annotations().title() != null, tool.name());
        }
        assertTrue(tools.get("delete_sandbox").tool().annotations().destructiveHint());
        assertTrue(tools.get("read_file").tool().annotations().readOnlyHint());
    }

    @Test
    void schemasCarryTheOperatorsLimits() {
        @SuppressWarnings("unchecked")
        var properties = (Map<String, Map<String, Object>>) tools.get("create_sandbox").tool().inputSchema().get("properties");
        assertEquals(1024, ((Number) properties.get("memory_mib").get("maximum")).intValue());
        assertTrue(properties.get("network").get("description").toString().contains("pypi.org"));
    }

    @Test
    void badArgumentsAreToolErrorsWithACode() {
        CallToolResult r = tools.get("run_command").call(Map.of("sandbox_id", "s", "comand", List.of("ls")));
        assertTrue(r.isError());
        assertTrue(text(r).startsWith("INVALID_ARGUMENT: unknown argument(s) [comand]"), text(r));
    }

    @Test
    void sandboxesOfOtherSessionsAreOutOfReach() {
        CallToolResult r = tools.get("run_command").call(Map.of("sandbox_id", "someone-elses", "command", List.of("ls")));
        assertTrue(r.isError());
        assertTrue(text(r).startsWith("NOT_FOUND: no sandbox 'someone-elses' in this session"), text(r));
    }

    @Test
    void commandAndShellAreExclusive() {
        CallToolResult r = tools.get("run_command").call(Map.of("sandbox_id", "s", "command", List.of("ls"), "shell", "ls"));
        assertTrue(text(r).startsWith("INVALID_ARGUMENT: give exactly one of 'command'"), text(r));
    }

    @Test
    void limitsAreCheckedBeforeTheDaemonIsAsked() {
        CallToolResult r = tools.get("create_sandbox").call(Map.of("network", "egress", "allow", List.of("evil.example")));
        assertTrue(text(r).startsWith("PERMISSION_DENIED: destination(s) [evil.example] are not allowed"), text(r));
    }

    @Test
    void aDaemonErrorIsAToolErrorWithItsStatusCode() {
        CallToolResult r = tools.get("list_sandboxes").call(Map.of());
        assertTrue(r.isError());
        assertTrue(text(r).startsWith("UNAVAILABLE: "), text(r));
        @SuppressWarnings("unchecked")
        var structured = (Map<String, Object>) r.structuredContent();
        assertEquals("UNAVAILABLE", structured.get("error_code"));
    }

    @Test
    void aFailedCreateGivesItsSlotBack() {
        // the daemon is unreachable: the create fails, and the session's one slot must be free again
        for (int i = 0; i < 2; i++) {
            CallToolResult r = tools.get("create_sandbox").call(Map.of());
            assertTrue(text(r).startsWith("UNAVAILABLE: "), text(r));
        }
        assertFalse(session.owned().iterator().hasNext());
    }

    @Test
    void fileModesAndEncodingsAreChecked() {
        assertEquals(0755, FileTools.parseMode("0755"));
        assertEquals(0644, FileTools.parseMode("644"));
        CallToolResult r = tools.get("write_file").call(Map.of("sandbox_id", "s", "path", "p", "content", "x",
                "mode", "999"));
        assertTrue(text(r).startsWith("INVALID_ARGUMENT: 'mode'"), text(r));
        assertEquals("hi", new String(FileTools.decode("aGk=", "base64")));
        CallToolResult bad = tools.get("write_file").call(Map.of("sandbox_id", "s", "path", "p", "content", "*",
                "encoding", "base64"));
        assertTrue(text(bad).startsWith("INVALID_ARGUMENT: 'content' is not valid base64"), text(bad));
    }
}
