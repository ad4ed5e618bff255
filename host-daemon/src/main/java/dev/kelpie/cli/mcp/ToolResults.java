package dev.kelpie.cli.mcp;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.modelcontextprotocol.spec.McpSchema.CallToolResult;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Tool results: text for the model, the same facts as structured content for programs, and errors as results with
 * isError and "CODE: message", the daemon's status code and description where the daemon refused.
 */
final class ToolResults {

    private ToolResults() {}

    static CallToolResult ok(String text, Map<String, Object> structured) {
        return CallToolResult.builder().addTextContent(text).structuredContent(structured).isError(false).build();
    }

    static CallToolResult error(Status.Code code, String message) {
        Map<String, Object> structured = new LinkedHashMap<>();
        structured.put("error_code", code.name());
        structured.put("message", message);
        return CallToolResult.builder().addTextContent(code.name() + ": " + message).structuredContent(structured)
                .isError(true).build();
    }

    static CallToolResult guard(Supplier<CallToolResult> call) {
        try {
            return call.get();
        } catch (ToolError e) {
            return error(e.code(), e.getMessage());
        } catch (StatusRuntimeException e) {
            return error(e.getStatus().getCode(), describe(e.getStatus()));
        } catch (RuntimeException e) {
            // A bug here must still reach the agent as a tool error: a protocol error would end its turn confused.
            return error(Status.Code.INTERNAL, "kelpie mcp failed: " + e);
        }
    }

    private static String describe(Status status) {
        if (status.getDescription() != null) {
            return status.getDescription();
        }
        return status.getCause() != null ? status.getCause().toString() : "(the daemon gave no message)";
    }
}
