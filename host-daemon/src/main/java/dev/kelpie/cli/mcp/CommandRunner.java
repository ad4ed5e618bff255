package dev.kelpie.cli.mcp;

import dev.kelpie.api.v1.Command;
import dev.kelpie.api.v1.ExecRequest;
import dev.kelpie.api.v1.ExecResponse;
import dev.kelpie.api.v1.ExitStatus;
import dev.kelpie.api.v1.OutputStream;
import io.grpc.Context;
import java.time.Duration;
import java.util.Iterator;

/**
 * Runs one command in a sandbox to its end and keeps the first bytes of each output stream. The guest cuts each
 * stream at the limit too, so a chatty command does not ship megabytes that would only be thrown away here.
 */
final class CommandRunner {

    record Outcome(ExitStatus exit, OutputBuffer stdout, OutputBuffer stderr) {}

    private final DaemonStubs daemon;

    CommandRunner(DaemonStubs daemon) {
        this.daemon = daemon;
    }

    Outcome run(String sandboxId, Command.Builder command, Duration timeout, long outputLimitBytes) {
        command.setTimeoutMs(timeout.toMillis()).setStdoutLimitBytes(outputLimitBytes).setStderrLimitBytes(outputLimitBytes);
        OutputBuffer stdout = new OutputBuffer(outputLimitBytes);
        OutputBuffer stderr = new OutputBuffer(outputLimitBytes);
        // Leaving the loop early (an error) cancels the call, which kills the process rather than orphan it.
        Context.CancellableContext context = Context.current().withCancellation();
        try {
            return context.call(() -> {
                Iterator<ExecResponse> events = daemon.blocking(timeout.plus(DaemonStubs.COMMAND_GRACE))
                        .exec(ExecRequest.newBuilder().setSandboxId(sandboxId).setCommand(command).build());
                while (events.hasNext()) {
                    var event = events.next().getEvent();
                    if (event.hasOutput()) {
                        boolean err = event.getOutput().getStream() == OutputStream.OUTPUT_STREAM_STDERR;
                        (err ? stderr : stdout).append(event.getOutput().getData().toByteArray());
                    } else if (event.hasExit()) {
                        ExitStatus exit = event.getExit();
                        if (exit.getStdoutTruncated()) {
                            stdout.markCutUpstream();
                        }
                        if (exit.getStderrTruncated()) {
                            stderr.markCutUpstream();
                        }
                        return new Outcome(exit, stdout, stderr);
                    }
                }
                throw new IllegalStateException("the daemon ended the command without an exit status");
            });
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        } finally {
            context.cancel(null);
        }
    }
}
