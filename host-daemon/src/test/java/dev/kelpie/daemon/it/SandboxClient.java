package dev.kelpie.daemon.it;

import dev.kelpie.cli.FileUpload;
import java.io.ByteArrayInputStream;

import dev.kelpie.api.v1.AttachRequest;
import dev.kelpie.api.v1.AttachResponse;
import dev.kelpie.api.v1.AttachStart;
import dev.kelpie.api.v1.Command;
import dev.kelpie.api.v1.CreateSandboxRequest;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.ExecRequest;
import dev.kelpie.api.v1.ExecResponse;
import dev.kelpie.api.v1.GetSandboxRequest;
import dev.kelpie.api.v1.ListProcessesRequest;
import dev.kelpie.api.v1.ListSandboxesRequest;
import dev.kelpie.api.v1.PackagesGrpc;
import dev.kelpie.api.v1.ProcessSummary;
import dev.kelpie.api.v1.ReadFileRequest;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.api.v1.WriteFileResponse;
import dev.kelpie.api.v1.WriteFileStart;
import dev.kelpie.daemon.agent.StreamCollector;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import io.grpc.ManagedChannel;
import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A grpc-java client of one daemon, for tests that drive several daemons at once. */
final class SandboxClient implements AutoCloseable {

    static final Duration CALL_TIMEOUT = Duration.ofSeconds(180);
    /** The chunk size of uploads, as the CLI sends them. */
    private static final int UPLOAD_CHUNK_BYTES = 32 * 1024;

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

    Sandbox get(String sandboxId) {
        return sandboxes().get(GetSandboxRequest.newBuilder().setId(sandboxId).build()).getSandbox();
    }

    List<ProcessSummary> processes(String sandboxId) {
        return sandboxes().listProcesses(ListProcessesRequest.newBuilder().setSandboxId(sandboxId).build())
                .getProcessesList();
    }

    /** Uploads {@code content} to {@code path} through WriteFile and returns what the daemon says it wrote. */
    WriteFileResponse upload(String sandboxId, String path, byte[] content) throws Exception {
        return FileUpload.send(SandboxesGrpc.newStub(channel).withDeadlineAfter(Await.scaled(CALL_TIMEOUT).toMillis(),
                TimeUnit.MILLISECONDS), WriteFileStart.newBuilder().setSandboxId(sandboxId).setPath(path)
                .setCreateParents(true).setSizeBytes(content.length).build(), new ByteArrayInputStream(content),
                UPLOAD_CHUNK_BYTES);
    }

    /** Downloads a whole file through ReadFile. */
    byte[] download(String sandboxId, String path) {
        ByteArrayOutputStream read = new ByteArrayOutputStream();
        sandboxes().readFile(ReadFileRequest.newBuilder().setSandboxId(sandboxId).setPath(path).build())
                .forEachRemaining(r -> read.writeBytes(r.getData().toByteArray()));
        return read.toByteArray();
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
