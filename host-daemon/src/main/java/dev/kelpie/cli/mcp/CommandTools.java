package dev.kelpie.cli.mcp;

import dev.kelpie.api.v1.Command;
import dev.kelpie.api.v1.ExitStatus;
import io.grpc.Status;
import io.modelcontextprotocol.json.McpJsonMapper;
import io.modelcontextprotocol.spec.McpSchema.CallToolResult;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** run_command and list_directory. */
final class CommandTools {

    /** A command's timeout when the agent names none: long enough for a build step, short enough to notice a hang. */
    static final Duration DEFAULT_COMMAND_TIMEOUT = Duration.ofSeconds(120);
    /** Output kept per stream when the agent names no size: a screenful or two of a model's context. */
    static final long DEFAULT_OUTPUT_BYTES = 32 * 1024;
    /** list_directory needs little time. */
    static final Duration LIST_TIMEOUT = Duration.ofSeconds(30);

    private final McpSession session;
    private final McpLimits limits;
    private final CommandRunner runner;

    CommandTools(McpSession session, McpLimits limits, CommandRunner runner) {
        this.session = session;
        this.limits = limits;
        this.runner = runner;
    }

    List<KelpieTool> tools(McpJsonMapper json) {
        return List.of(
                KelpieTool.of(json, "run_command", "Run a command in a sandbox", KelpieTool.Kind.CHANGES, """
                        Run a command in a sandbox and wait for it to finish. Returns its exit code, stdout and \
                        stderr. Give either 'command' (program and arguments, run directly, no shell) or 'shell' (a \
                        script for /bin/sh -c, for pipes, redirections and &&). Runs as root in /workspace unless \
                        'cwd' says otherwise; stdin is empty. A command that outlives its timeout is killed and \
                        reported as timed out. Each output stream is cut at max_output_bytes, with a marker saying \
                        so: for large output, redirect to a file and read it with read_file.""", """
                        {"type": "object", "properties": {
                          "sandbox_id": {"type": "string", "description": "The sandbox to run in."},
                          "command": {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": \
                        "Program and arguments, e.g. [\\"python3\\", \\"main.py\\"]. Not with 'shell'."},
                          "shell": {"type": "string", "description": "A shell script run with /bin/sh -c, e.g. \
                        \\"make 2>&1 | tail -n 50\\". Not with 'command'."},
                          "cwd": {"type": "string", "description": "Working directory (default /workspace)."},
                          "env": {"type": "object", "additionalProperties": {"type": "string"}, "description": \
                        "Extra environment variables for this command."},
                          "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": %d, "description": \
                        "Kill the command after this many seconds (default %d)."},
                          "max_output_bytes": {"type": "integer", "minimum": 1, "maximum": %d, "description": \
                        "Bytes of stdout, and of stderr, to return before cutting (default %d)."}
                        }, "required": ["sandbox_id"], "additionalProperties": false}""".formatted(
                        limits.maxCommandTimeout().toSeconds(), defaultTimeout().toSeconds(), limits.maxOutputBytes(),
                        Math.min(DEFAULT_OUTPUT_BYTES, limits.maxOutputBytes())), this::runCommand),
                KelpieTool.of(json, "list_directory", "List a directory in a sandbox", KelpieTool.Kind.READ_ONLY, """
                        List a directory in a sandbox, hidden entries included, in `ls -l` form: type and \
                        permissions, owner, size in bytes, modification time and name.""", """
                        {"type": "object", "properties": {
                          "sandbox_id": {"type": "string", "description": "The sandbox."},
                          "path": {"type": "string", "description": "Absolute, or relative to /workspace (default \
                        /workspace)."}
                        }, "required": ["sandbox_id"], "additionalProperties": false}""", this::listDirectory));
    }

    private Duration defaultTimeout() {
        return DEFAULT_COMMAND_TIMEOUT.compareTo(limits.maxCommandTimeout()) > 0 ? limits.maxCommandTimeout()
                : DEFAULT_COMMAND_TIMEOUT;
    }

    private CallToolResult runCommand(ToolArguments args) {
        String id = args.requiredString("sandbox_id");
        List<String> argv = args.stringList("command");
        var shell = args.optionalString("shell");
        if (argv.isEmpty() == shell.isEmpty()) {
            throw ToolError.invalid("give exactly one of 'command' (an array: program and arguments) and 'shell'"
                    + " (a string for /bin/sh -c)");
        }
        Duration timeout = limits.commandTimeout(args.optionalLong("timeout_seconds", 1, Long.MAX_VALUE / 1000)
                .orElse(null), defaultTimeout());
        long outputBytes = limits.outputBytes(args.optionalLong("max_output_bytes", 1, Long.MAX_VALUE).orElse(null),
                DEFAULT_OUTPUT_BYTES);
        session.requireOwned(id);
        Command.Builder command = Command.newBuilder()
                .addAllArgv(shell.isPresent() ? List.of("/bin/sh", "-c", shell.get()) : argv)
                .setCwd(args.optionalString("cwd").orElse("")).putAllEnv(args.stringMap("env"));
        var outcome = runner.run(id, command, timeout, outputBytes);
        return ToolResults.ok(describe(outcome, timeout), structured(outcome));
    }

    static String describe(CommandRunner.Outcome outcome, Duration timeout) {
        ExitStatus exit = outcome.exit();
        StringBuilder text = new StringBuilder();
        if (exit.getTimedOut()) {
            text.append("TIMED OUT: the command ran longer than its timeout of ").append(timeout.toSeconds())
                    .append(" s and was killed.\n");
        }
        if (exit.getOomKilled()) {
            text.append("OUT OF MEMORY: the kernel killed a process of this command.\n");
        }
        text.append(exit.hasSignal() ? "killed by signal " + exit.getSignal() : "exit code " + exit.getExitCode())
                .append(" after ").append(exit.getDurationMs()).append(" ms\n");
        text.append("--- stdout ---\n").append(outcome.stdout().text("stdout", OUTPUT_HINT)).append('\n');
        text.append("--- stderr ---\n").append(outcome.stderr().text("stderr", OUTPUT_HINT));
        return text.toString();
    }

    private static final String OUTPUT_HINT = "raise max_output_bytes, or redirect it to a file and read that in parts";

    private static Map<String, Object> structured(CommandRunner.Outcome outcome) {
        ExitStatus exit = outcome.exit();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("exit_code", exit.hasSignal() ? null : exit.getExitCode());
        m.put("signal", exit.hasSignal() ? exit.getSignal() : null);
        m.put("timed_out", exit.getTimedOut());
        m.put("oom_killed", exit.getOomKilled());
        m.put("duration_ms", exit.getDurationMs());
        m.put("stdout", outcome.stdout().text("stdout", OUTPUT_HINT));
        m.put("stderr", outcome.stderr().text("stderr", OUTPUT_HINT));
        m.put("stdout_truncated", outcome.stdout().truncated());
        m.put("stderr_truncated", outcome.stderr().truncated());
        return m;
    }

    private CallToolResult listDirectory(ToolArguments args) {
        String id = args.requiredString("sandbox_id");
        String path = args.optionalString("path").filter(p -> !p.isBlank()).orElse("/workspace");
        session.requireOwned(id);
        // Options that both GNU and busybox ls (the minimal image's) take; "--" so that a path starting with "-" is one.
        Command.Builder command = Command.newBuilder().addAllArgv(List.of("ls", "-lA", "--", path));
        Duration timeout = LIST_TIMEOUT.compareTo(limits.maxCommandTimeout()) < 0 ? LIST_TIMEOUT : limits.maxCommandTimeout();
        var outcome = runner.run(id, command, timeout, limits.maxOutputBytes());
        if (outcome.exit().hasSignal() || outcome.exit().getExitCode() != 0) {
            String message = outcome.stderr().text("stderr", OUTPUT_HINT).strip();
            throw new ToolError(message.contains("No such file") ? Status.Code.NOT_FOUND : Status.Code.FAILED_PRECONDITION,
                    message.isEmpty() ? "ls failed on " + path : message);
        }
        String listing = outcome.stdout().text("listing", "list a subdirectory, or use run_command with find");
        return ToolResults.ok(path + ":\n" + listing, Map.of("path", path, "listing", listing));
    }
}
