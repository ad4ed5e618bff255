package dev.kelpie.cli.mcp;

import io.grpc.Status;

/**
 * A tool call that failed for a reason the agent can act on: bad arguments, an operator limit, a sandbox this session
 * does not own. It carries a gRPC status code so that these read exactly like the daemon's own errors.
 */
final class ToolError extends RuntimeException {

    private final Status.Code code;

    ToolError(Status.Code code, String message) {
        super(message, null, false, false);
        this.code = code;
    }

    static ToolError invalid(String message) {
        return new ToolError(Status.Code.INVALID_ARGUMENT, message);
    }

    static ToolError denied(String message) {
        return new ToolError(Status.Code.PERMISSION_DENIED, message);
    }

    Status.Code code() {
        return code;
    }
}
