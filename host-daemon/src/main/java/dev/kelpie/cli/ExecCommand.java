package dev.kelpie.cli;

import dev.kelpie.api.v1.Command;
import dev.kelpie.api.v1.ExecInteractiveRequest;
import dev.kelpie.api.v1.ExecInteractiveResponse;
import dev.kelpie.api.v1.ExecInteractiveStart;
import dev.kelpie.api.v1.ExecRequest;
import dev.kelpie.api.v1.ExecResponse;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.api.v1.StdinMode;
import io.grpc.Context;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code kelpie exec [-i] [-t] ID -- CMD...}: runs a command in a sandbox; exits with the command's exit code. */
@picocli.CommandLine.Command(name = "exec", description = "Run a command in a sandbox and stream its output.")
final class ExecCommand implements Callable<Integer> {

    @ParentCommand
    KelpieCli cli;

    @Option(names = {"-i", "--interactive"}, description = "send this terminal's stdin to the command")
    boolean interactive;

    @Option(names = {"-t", "--tty"}, description = "run the command on a pseudo-terminal, this terminal in raw mode")
    boolean tty;

    @Option(names = {"-d", "--detach"}, description = "start detached, print the process id and return")
    boolean detach;

    @Option(names = "--timeout", description = "kill the command after this long (e.g. 30s)", converter = DurationConverter.class)
    Duration timeout = Duration.ZERO;

    @Option(names = {"-e", "--env"}, description = "KEY=VALUE for this command")
    Map<String, String> env = Map.of();

    @Option(names = {"-w", "--workdir"}, description = "working directory (default /workspace)")
    String cwd = "";

    @Option(names = {"-u", "--user"}, description = "user name or uid[:gid] (default root)")
    String user = "";

    @Parameters(index = "0", paramLabel = "ID", description = "sandbox id")
    String sandboxId;

    @Parameters(index = "1..*", arity = "1..*", paramLabel = "CMD", description = "the command and its arguments (after --)")
    List<String> argv;

    @Override
    public Integer call() throws Exception {
        Command.Builder command = Command.newBuilder().addAllArgv(argv).putAllEnv(env).setCwd(cwd).setUser(user)
                .setTimeoutMs(timeout.toMillis()).setDetached(detach);
        if (interactive || tty) {
            command.setStdinMode(tty ? StdinMode.STDIN_MODE_PTY : StdinMode.STDIN_MODE_PIPE);
            var start = ExecInteractiveRequest.newBuilder()
                    .setStart(ExecInteractiveStart.newBuilder().setSandboxId(sandboxId).setCommand(command)).build();
            return new InteractiveSession(tty).run(SandboxesGrpc.newStub(cli.channel())::execInteractive, start,
                    input -> ExecInteractiveRequest.newBuilder().setInput(input).build(), ExecInteractiveResponse::getEvent);
        }
        Context.CancellableContext context = Context.current().withCancellation();
        try {
            return context.call(() -> streamExec(command.build()));
        } finally {
            context.cancel(null); // detached: hang up after Started; the process lives on
        }
    }

    private int streamExec(Command command) {
        Iterator<ExecResponse> events = SandboxesGrpc.newBlockingStub(cli.channel())
                .exec(ExecRequest.newBuilder().setSandboxId(sandboxId).setCommand(command).build());
        while (events.hasNext()) {
            var event = events.next().getEvent();
            if (detach && event.hasStarted()) {
                System.out.println(event.getStarted().getProcessId());
                return 0;
            }
            OptionalInt exit = ProcessOutput.write(event);
            if (exit.isPresent()) {
                return exit.getAsInt();
            }
        }
        throw new IllegalStateException("the daemon ended the exec without an exit status");
    }
}
