package dev.kelpie.cli;

import dev.kelpie.api.v1.ForkSandboxRequest;
import dev.kelpie.api.v1.ForkSandboxResponse;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxesGrpc;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code kelpie fork ID [-n N]}: prints the copies' ids, one a line. */
@Command(name = "fork", description = "Copy a running or paused sandbox: each copy continues from this instant (processes,"
        + " memory, /workspace) with its own id; the source runs on. Prints the copies' ids, one a line.")
final class ForkCommand implements Callable<Integer> {

    @ParentCommand
    KelpieCli cli;

    @Parameters(index = "0", paramLabel = "ID", description = "sandbox to copy")
    String id;

    @Option(names = {"-n", "--count"}, description = "number of copies, 1 to 16 (default: 1)")
    int count = 1;

    @Option(names = "--label", description = "label KEY=VALUE for the copies, beside the source's (repeatable)")
    Map<String, String> labels = Map.of();

    @Override
    public Integer call() {
        ForkSandboxResponse response = SandboxesGrpc.newBlockingStub(cli.channel()).fork(ForkSandboxRequest.newBuilder()
                .setId(id).setCount(count).putAllLabels(labels).build());
        for (Sandbox copy : response.getSandboxesList()) {
            System.out.println(copy.getId());
        }
        return 0;
    }
}
