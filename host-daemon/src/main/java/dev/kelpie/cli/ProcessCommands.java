package dev.kelpie.cli;

import dev.kelpie.api.v1.AttachRequest;
import dev.kelpie.api.v1.AttachResponse;
import dev.kelpie.api.v1.AttachStart;
import dev.kelpie.api.v1.ListProcessesRequest;
import dev.kelpie.api.v1.ProcessSummary;
import dev.kelpie.api.v1.SandboxesGrpc;
import java.time.Instant;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code kelpie ps ID} and {@code kelpie attach ID PROCESS}. */
final class ProcessCommands {

    private ProcessCommands() {}

    @Command(name = "ps", description = "List the processes a sandbox's agent tracks.")
    static final class Ps implements Callable<Integer> {
        @ParentCommand
        KelpieCli cli;

        @Parameters(paramLabel = "ID")
        String sandboxId;

        @Override
        public Integer call() {
            var processes = SandboxesGrpc.newBlockingStub(cli.channel())
                    .listProcesses(ListProcessesRequest.newBuilder().setSandboxId(sandboxId).build()).getProcessesList();
            System.out.printf("%-10s %6s %-8s %-9s %12s  %-24s %s%n", "PROCESS", "PID", "STATE", "DETACHED", "STDOUT B",
                    "STARTED", "COMMAND");
            for (ProcessSummary p : processes) {
                String state = p.getRunning() ? "running" : "exit " + (p.getExit().hasSignal()
                        ? "sig " + p.getExit().getSignal() : Integer.toString(p.getExit().getExitCode()));
                System.out.printf("%-10s %6d %-8s %-9s %12d  %-24s %s%n", p.getProcessId(), p.getPid(), state,
                        p.getDetached() ? "yes" : "no", p.getStdoutBytes(), Instant.ofEpochMilli(p.getStartedAtUnixMs()),
                        String.join(" ", p.getArgvList()));
            }
            return 0;
        }
    }

    @Command(name = "attach", description = "Replay a process's output and follow it; this terminal's stdin goes to it.")
    static final class Attach implements Callable<Integer> {
        @ParentCommand
        KelpieCli cli;

        @Option(names = {"-t", "--tty"}, description = "the process runs on a PTY: put this terminal in raw mode")
        boolean tty;

        @Parameters(index = "0", paramLabel = "ID")
        String sandboxId;

        @Parameters(index = "1", paramLabel = "PROCESS")
        String processId;

        @Override
        public Integer call() throws Exception {
            var start = AttachRequest.newBuilder().setStart(AttachStart.newBuilder().setSandboxId(sandboxId)
                    .setProcessId(processId)).build();
            return new InteractiveSession(tty).run(SandboxesGrpc.newStub(cli.channel())::attach, start,
                    input -> AttachRequest.newBuilder().setInput(input).build(), AttachResponse::getEvent);
        }
    }
}
