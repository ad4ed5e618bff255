package dev.kelpie.daemon.api;

import dev.kelpie.agent.v1.ExecStart;
import dev.kelpie.agent.v1.Exited;
import dev.kelpie.agent.v1.Failed;
import dev.kelpie.agent.v1.OutputChunk;
import dev.kelpie.agent.v1.SignalDelivery;
import dev.kelpie.agent.v1.StdinChunk;
import dev.kelpie.agent.v1.StdinEof;
import dev.kelpie.api.v1.Command;
import dev.kelpie.api.v1.ExitStatus;
import dev.kelpie.api.v1.Output;
import dev.kelpie.api.v1.OutputStream;
import dev.kelpie.api.v1.ProcessEvent;
import dev.kelpie.api.v1.ProcessInput;
import dev.kelpie.api.v1.ProcessStarted;
import dev.kelpie.api.v1.ProcessSummary;
import dev.kelpie.api.v1.StdinMode;
import dev.kelpie.api.v1.TerminalSize;
import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.sandboxes.ExecDefaults;
import io.grpc.Status;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Translates process messages between the public API and the agent protocol. The two define look-alike messages on
 * purpose (ADR 0005): the agent protocol evolves with the image, the API with the daemon.
 */
final class ProcessMessages {

    private ProcessMessages() {}

    /**
     * @param defaults the sandbox's exec defaults: its env, sent with every process instead of once to the agent (so
     *     that a sandbox made from a warm-pool VM needs no agent call), and an OCI image's working directory, user and
     *     command; the command's own values win
     */
    static ExecStart toAgent(Command command, ExecDefaults defaults) {
        List<String> argv = command.getArgvCount() > 0 ? command.getArgvList() : defaults.command();
        if (argv.isEmpty()) {
            throw GrpcErrors.of(ErrorKind.BAD_REQUEST, "command.argv is empty (only a sandbox from an OCI image with an"
                    + " Entrypoint or Cmd has a default command)");
        }
        ExecStart.Builder start = ExecStart.newBuilder().addAllArgv(argv).putAllEnv(defaults.env())
                .putAllEnv(command.getEnvMap())
                .setCwd(command.getCwd().isEmpty() ? defaults.cwd() : command.getCwd())
                .setUser(command.getUser().isEmpty() ? defaults.user() : command.getUser())
                .setTimeoutMs(command.getTimeoutMs())
                .setStdoutLimitBytes(command.getStdoutLimitBytes()).setStderrLimitBytes(command.getStderrLimitBytes())
                .setDetached(command.getDetached()).setStdinMode(toAgent(command.getStdinMode()));
        if (command.hasTerminalSize()) {
            start.setTerminalSize(toAgent(command.getTerminalSize()));
        }
        return start.build();
    }

    private static dev.kelpie.agent.v1.StdinMode toAgent(StdinMode mode) {
        return switch (mode) {
            case STDIN_MODE_PIPE -> dev.kelpie.agent.v1.StdinMode.STDIN_MODE_PIPE;
            case STDIN_MODE_PTY -> dev.kelpie.agent.v1.StdinMode.STDIN_MODE_PTY;
            default -> dev.kelpie.agent.v1.StdinMode.STDIN_MODE_NONE;
        };
    }

    private static dev.kelpie.agent.v1.TerminalSize toAgent(TerminalSize size) {
        return dev.kelpie.agent.v1.TerminalSize.newBuilder().setRows(size.getRows()).setColumns(size.getColumns()).build();
    }

    /**
     * @param stdinOffset bytes of stdin sent before this input, which the agent uses to drop resent chunks
     */
    static dev.kelpie.agent.v1.ProcessInput toAgent(ProcessInput input, long stdinOffset) {
        var out = dev.kelpie.agent.v1.ProcessInput.newBuilder();
        switch (input.getKindCase()) {
            case STDIN -> out.setStdin(StdinChunk.newBuilder().setData(input.getStdin()).setOffsetBytes(stdinOffset));
            case STDIN_EOF -> out.setStdinEof(StdinEof.getDefaultInstance());
            case SIGNAL -> out.setSignal(SignalDelivery.newBuilder().setSignal(input.getSignal()));
            case RESIZE -> out.setResize(toAgent(input.getResize()));
            default -> throw GrpcErrors.of(ErrorKind.BAD_REQUEST, "input has no kind");
        }
        return out.build();
    }

    /**
     * The public event for an agent event; empty for agent-only events. A {@code failed} event becomes the stream's
     * final status (thrown).
     */
    static Optional<ProcessEvent> fromAgent(dev.kelpie.agent.v1.ProcessEvent event) {
        return switch (event.getKindCase()) {
            case STARTED -> Optional.of(ProcessEvent.newBuilder().setStarted(ProcessStarted.newBuilder()
                    .setProcessId(event.getStarted().getId()).setPid(event.getStarted().getPid())).build());
            case OUTPUT -> Optional.of(ProcessEvent.newBuilder().setOutput(output(event.getOutput())).build());
            case EXITED -> Optional.of(ProcessEvent.newBuilder().setExit(exit(event.getExited())).build());
            case FAILED -> throw failure(event.getFailed());
            default -> Optional.empty();
        };
    }

    static boolean isFinal(dev.kelpie.agent.v1.ProcessEvent event) {
        return event.hasExited() || event.hasFailed();
    }

    private static Output output(OutputChunk chunk) {
        return Output.newBuilder()
                .setStream(chunk.getStream() == dev.kelpie.agent.v1.OutputStream.OUTPUT_STREAM_STDERR
                        ? OutputStream.OUTPUT_STREAM_STDERR : OutputStream.OUTPUT_STREAM_STDOUT)
                .setData(chunk.getData()).setOffsetBytes(chunk.getOffsetBytes()).build();
    }

    static ExitStatus exit(Exited exited) {
        ExitStatus.Builder status = ExitStatus.newBuilder().setTimedOut(exited.getTimedOut())
                .setStdoutTruncated(exited.getStdoutTruncated()).setStderrTruncated(exited.getStderrTruncated())
                .setOutputMayContinue(exited.getOutputMayContinue()).setOomKilled(exited.getOomKilled())
                .setDurationMs(exited.getDurationMs());
        if (exited.hasSignal()) {
            status.setSignal(exited.getSignal());
        } else {
            status.setExitCode(exited.getExitCode());
        }
        return status.build();
    }

    private static RuntimeException failure(Failed failed) {
        ErrorKind kind = switch (failed.getStage()) {
            case FAILURE_STAGE_REQUEST -> ErrorKind.BAD_REQUEST;
            case FAILURE_STAGE_EXEC -> ErrorKind.WRONG_STATE;
            case FAILURE_STAGE_LOST -> ErrorKind.CONFLICT;
            default -> ErrorKind.BUG;
        };
        String errno = failed.getErrno() == 0 ? "" : " (errno " + failed.getErrno() + ")";
        return GrpcErrors.of(kind, failed.getReason() + errno);
    }

    static ProcessSummary summary(dev.kelpie.agent.v1.ProcessInfo info) {
        ProcessSummary.Builder summary = ProcessSummary.newBuilder().setProcessId(info.getId()).setPid(info.getPid())
                .addAllArgv(info.getArgvList()).setRunning(info.getState() == dev.kelpie.agent.v1.ProcessState.PROCESS_STATE_RUNNING)
                .setDetached(info.getDetached()).setStartedAtUnixMs(info.getStartedAtUnixMs())
                .setStdoutBytes(info.getStdoutBytes()).setStderrBytes(info.getStderrBytes());
        if (info.hasExited()) {
            summary.setExit(exit(info.getExited()));
        }
        return summary.build();
    }
}
