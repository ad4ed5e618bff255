package dev.kelpie.daemon.it;

import dev.kelpie.api.v1.AttachRequest;
import dev.kelpie.api.v1.AttachResponse;
import dev.kelpie.api.v1.AttachStart;
import dev.kelpie.api.v1.Command;
import dev.kelpie.api.v1.CreateSandboxRequest;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.ExecRequest;
import dev.kelpie.api.v1.ExecResponse;
import dev.kelpie.api.v1.ListSandboxesRequest;
import dev.kelpie.api.v1.PackagesGrpc;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.daemon.agent.StreamCollector;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import io.grpc.ManagedChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A grpc-java client of one daemon, for tests that drive several daemons at once. */
final class SandboxClient implements AutoCloseable {

    static final Duration CALL_TIMEOUT = Duration.ofSeconds(180);

    private final UnixSocketChannels channels = new UnixSocketChannels();
    final ManagedChannel channel;

    SandboxClient(Path socket) {
        this.channel = channels.open(socket);
    }

    SandboxesGrpc.SandboxesBlockingStub sandboxes() {
        return SandboxesGrpc.newBlockingStub(channel).withDeadlineAfter(Await.scaled(CALL_TIMEOUT).toMillis(),
                TimeUnit.MILLISECONDS);
    }

    PackagesGrpc.PackagesBlockingStub packages() {
        return PackagesGrpc.newBlockingStub(channel).withDeadlineAfter(Await.scaled(CALL_TIMEOUT).toMillis(),
                TimeUnit.MILLISECONDS);
    }

    Sandbox create(SandboxSpec spec) {
        return sandboxes().create(CreateSandboxRequest.newBuilder().setSpec(spec).build()).getSandbox();
    }

    List<Sandbox> list() {
        return sandboxes().list(ListSandboxesRequest.getDefaultInstance()).getSandboxesList();
    }

    void deleteAll() {
        for (Sandbox s : list()) {
            sandboxes().delete(DeleteSandboxRequest.newBuilder().setId(s.getId()).build());
        }
    }

    /** Starts a command and returns its collector at once; the stream runs on. */
    StreamCollector<ExecResponse> start(String sandboxId, Command command) {
        StreamCollector<ExecResponse> events = new StreamCollector<>();
        SandboxesGrpc.newStub(channel).exec(ExecRequest.newBuilder().setSandboxId(sandboxId).setCommand(command).build(),
                events);
        return events;
    }

    /** Runs a shell script to its end and returns its stdout, failing on a non-zero exit. */
    String sh(String sandboxId, String script) throws Exception {
        var outcome = start(sandboxId, SandboxesIT.sh(script)).await(Await.scaled(CALL_TIMEOUT));
        var exit = SandboxesIT.exitOf(outcome.messages());
        if (exit.getStatusCase() != dev.kelpie.api.v1.ExitStatus.StatusCase.EXIT_CODE || exit.getExitCode() != 0) {
            throw new AssertionError("`" + script + "` ended " + exit + ": " + outcome.messages());
        }
        return SandboxesIT.stdout(outcome.messages());
    }

    /** Attaches to a process from the start of its buffered output and follows it to its end. */
    StreamCollector.Outcome<AttachResponse> attachToEnd(String sandboxId, String processId) throws Exception {
        StreamCollector<AttachResponse> attached = new StreamCollector<>();
        SandboxesGrpc.newStub(channel).attach(attached).onNext(AttachRequest.newBuilder()
                .setStart(AttachStart.newBuilder().setSandboxId(sandboxId).setProcessId(processId)).build());
        return attached.await(Await.scaled(CALL_TIMEOUT));
    }

    @Override
    public void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        channels.close();
    }
}
