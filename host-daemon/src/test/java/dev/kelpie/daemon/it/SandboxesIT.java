package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.kelpie.api.v1.AttachRequest;
import dev.kelpie.api.v1.AttachResponse;
import dev.kelpie.api.v1.AttachStart;
import dev.kelpie.api.v1.Command;
import dev.kelpie.api.v1.CreateSandboxRequest;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.ExecInteractiveRequest;
import dev.kelpie.api.v1.ExecInteractiveResponse;
import dev.kelpie.api.v1.ExecInteractiveStart;
import dev.kelpie.api.v1.ExecRequest;
import dev.kelpie.api.v1.ExecResponse;
import dev.kelpie.api.v1.GetSandboxRequest;
import dev.kelpie.api.v1.ListProcessesRequest;
import dev.kelpie.api.v1.PauseSandboxRequest;
import dev.kelpie.api.v1.ProcessInput;
import dev.kelpie.api.v1.ProcessSummary;
import dev.kelpie.api.v1.ReadFileRequest;
import dev.kelpie.api.v1.ReadFileResponse;
import dev.kelpie.api.v1.ResumeSandboxRequest;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxState;
import dev.kelpie.api.v1.SandboxStats;
import dev.kelpie.api.v1.SandboxStatsRequest;
import dev.kelpie.api.v1.SandboxStatsResponse;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.api.v1.StdinMode;
import dev.kelpie.api.v1.WriteFileRequest;
import dev.kelpie.api.v1.WriteFileResponse;
import dev.kelpie.api.v1.WriteFileStart;
import dev.kelpie.daemon.agent.StreamCollector;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sandboxes of the packaged daemon on real QEMU (TCG) VMs booted from the test image, driven over its Unix socket by
 * a grpc-java client. At most two VMs run at once (the CI host has two cores).
 */
class SandboxesIT {

    private static final Duration CREATE_TIMEOUT = Duration.ofSeconds(180);
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(120);
    private static final int SIGKILL = 9;
    private static final int CANCELLED_ATTACH_ROUNDS = 10;

    @TempDir
    static Path work;
    static DaemonProcess daemon;
    static UnixSocketChannels channels;
    static ManagedChannel channel;

    @BeforeAll
    static void startDaemon() throws Exception {
        String imageDir = System.getProperty("kelpie.it.imageDir", "");
        Assumptions.assumeFalse(imageDir.isBlank(), "no image given (-Dkelpie.imageDir=...; scripts/dev passes it)");
        daemon = DaemonProcess.startServing(work, "sandboxes", daemonArgs(imageDir));
        channels = new UnixSocketChannels();
        channel = channels.open(daemon.socket);
    }

    /** Short, so that a quiet uploader is timed out within the test. */
    static final String UPLOAD_IDLE = "5s";

    static String[] daemonArgs(String imageDir) {
        return new String[] {"-Dkelpie.images.dirs=" + imageDir, "-Dkelpie.qemu.accelerator=tcg",
                "-Dkelpie.probe.boot-timeout=2s", "-Dkelpie.sandboxes.default-memory-mib=256",
                "-Dkelpie.sandboxes.max-memory-mib=1024", "-Dkelpie.api.upload-idle-timeout=" + UPLOAD_IDLE};
    }

    @AfterEach
    void deleteSandboxes() {
        isolated.forEach(ManagedChannel::shutdownNow);
        isolated.clear();
        if (daemon == null) {
            return;
        }
        for (Sandbox s : sandboxes().list(dev.kelpie.api.v1.ListSandboxesRequest.getDefaultInstance()).getSandboxesList()) {
            sandboxes().delete(DeleteSandboxRequest.newBuilder().setId(s.getId()).build());
        }
    }

    @AfterAll
    static void stopDaemon() throws Exception {
        if (channel != null) {
            channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
            channels.close();
        }
        if (daemon != null) {
            daemon.close();
            assertNoQemuLeft();
        }
    }

    static SandboxesGrpc.SandboxesBlockingStub sandboxes() {
        return SandboxesGrpc.newBlockingStub(channel).withDeadlineAfter(Await.scaled(CREATE_TIMEOUT).toMillis(), TimeUnit.MILLISECONDS);
    }

    static SandboxesGrpc.SandboxesStub async() {
        return SandboxesGrpc.newStub(channel);
    }

    /**
     * A connection of its own for a call that stops reading: HTTP/2's connection-level flow-control window is shared
     * by every call on a connection, so bytes such a call leaves unread would stall the test's other calls.
     */
    static SandboxesGrpc.SandboxesStub isolatedAsync() {
        ManagedChannel own = channels.open(daemon.socket);
        isolated.add(own);
        return SandboxesGrpc.newStub(own);
    }

    static final List<ManagedChannel> isolated = new java.util.concurrent.CopyOnWriteArrayList<>();

    static Sandbox create() {
        return create(SandboxSpec.getDefaultInstance());
    }

    static Sandbox create(SandboxSpec spec) {
        return sandboxes().create(CreateSandboxRequest.newBuilder().setSpec(spec).build()).getSandbox();
    }

    static Command sh(String script) {
        return Command.newBuilder().addArgv("sh").addArgv("-c").addArgv(script).build();
    }

    /** Runs a command to its end and returns every event, with the stream's final status. */
    static StreamCollector.Outcome<ExecResponse> exec(String sandboxId, Command command) throws Exception {
        StreamCollector<ExecResponse> events = new StreamCollector<>();
        async().exec(ExecRequest.newBuilder().setSandboxId(sandboxId).setCommand(command).build(), events);
        return events.await(Await.scaled(CALL_TIMEOUT));
    }

    static String stdout(List<ExecResponse> events) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        events.stream().filter(e -> e.getEvent().hasOutput()).map(e -> e.getEvent().getOutput())
                .filter(o -> o.getStream() == dev.kelpie.api.v1.OutputStream.OUTPUT_STREAM_STDOUT)
                .forEach(o -> out.writeBytes(o.getData().toByteArray()));
        return out.toString(StandardCharsets.UTF_8);
    }

    static dev.kelpie.api.v1.ExitStatus exitOf(List<ExecResponse> events) {
        List<ExecResponse> exits = events.stream().filter(e -> e.getEvent().hasExit()).toList();
        assertEquals(1, exits.size(), "exactly one final status: " + events);
        assertTrue(events.get(events.size() - 1).getEvent().hasExit(), "the exit comes last");
        return exits.get(0).getEvent().getExit();
    }

    static Path runtimeDir(String sandboxId) {
        return daemon.stateDir.resolve("vms").resolve(sandboxId);
    }

    static long qemuPid(String sandboxId) throws Exception {
        return Long.parseLong(Files.readString(runtimeDir(sandboxId).resolve("qemu.pid")).strip());
    }

    static void assertNoQemuLeft() {
        List<ProcessHandle> left = ProcessHandle.allProcesses().filter(p -> p.info().commandLine()
                .map(c -> c.contains(work.toString()) && c.contains("qemu-system")).orElse(false)).toList();
        assertTrue(left.isEmpty(), "qemu processes left behind: " + left.stream().map(p -> p.info().commandLine().orElse("?")).toList());
    }

    // ---- tests ---------------------------------------------------------------------------------------------------

    @Test
    void createExecEchoThenDeleteLeavesNothing() throws Exception {
        Sandbox sandbox = create();
        assertEquals(SandboxState.SANDBOX_STATE_READY, sandbox.getState());
        assertEquals("qemu", sandbox.getBackend());
        assertEquals(System.getProperty("os.arch").equals("amd64") ? "x86_64" : "aarch64", sandbox.getArch());
        long pid = qemuPid(sandbox.getId());

        var outcome = exec(sandbox.getId(), Command.newBuilder().addArgv("echo").addArgv("hi").build());
        assertEquals(Status.Code.OK, outcome.status().getCode(), outcome.status().toString());
        assertEquals("hi\n", stdout(outcome.messages()));
        assertEquals(0, exitOf(outcome.messages()).getExitCode());
        assertTrue(outcome.messages().get(0).getEvent().hasStarted(), "Started comes first");

        sandboxes().delete(DeleteSandboxRequest.newBuilder().setId(sandbox.getId()).build());
        StatusRuntimeException gone = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                () -> sandboxes().get(GetSandboxRequest.newBuilder().setId(sandbox.getId()).build()));
        assertEquals(Status.Code.NOT_FOUND, gone.getStatus().getCode());
        assertFalse(Files.exists(runtimeDir(sandbox.getId())), "the runtime directory is removed");
        assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "qemu is gone");
    }

    @Test
    void fiftyMegabytesOfStdoutArriveIntactAndInOrder() throws Exception {
        Sandbox sandbox = create();
        long size = 50L * 1024 * 1024;
        // Deterministic content the test can recompute: the guest hashes what it sent, the test what it received.
        var outcome = exec(sandbox.getId(), sh("yes 0123456789abcdef | head -c " + size));
        assertEquals(Status.Code.OK, outcome.status().getCode(), outcome.status().toString());
        MessageDigest received = MessageDigest.getInstance("SHA-256");
        long expectedOffset = 0;
        for (ExecResponse e : outcome.messages()) {
            if (e.getEvent().hasOutput()) {
                assertEquals(expectedOffset, e.getEvent().getOutput().getOffsetBytes(), "chunks arrive in order, without gaps");
                received.update(e.getEvent().getOutput().getData().asReadOnlyByteBuffer());
                expectedOffset += e.getEvent().getOutput().getData().size();
            }
        }
        assertEquals(size, expectedOffset);
        MessageDigest expected = MessageDigest.getInstance("SHA-256");
        byte[] line = "0123456789abcdef\n".getBytes(StandardCharsets.US_ASCII);
        for (long i = 0; i < size; i += line.length) {
            expected.update(line, 0, (int) Math.min(line.length, size - i));
        }
        assertEquals(HexFormat.of().formatHex(expected.digest()), HexFormat.of().formatHex(received.digest()));
        assertEquals(0, exitOf(outcome.messages()).getExitCode());
    }

    @Test
    void stdinPipeTimeoutAndFilesWork() throws Exception {
        Sandbox sandbox = create();
        // stdin through ExecInteractive: cat echoes what it reads and ends at EOF.
        StreamCollector<ExecInteractiveResponse> events = new StreamCollector<>();
        StreamObserver<ExecInteractiveRequest> input = async().execInteractive(events);
        input.onNext(ExecInteractiveRequest.newBuilder().setStart(ExecInteractiveStart.newBuilder().setSandboxId(sandbox.getId())
                .setCommand(Command.newBuilder().addArgv("cat").setStdinMode(StdinMode.STDIN_MODE_PIPE))).build());
        input.onNext(ExecInteractiveRequest.newBuilder().setInput(ProcessInput.newBuilder()
                .setStdin(ByteString.copyFromUtf8("hello through stdin\n"))).build());
        input.onNext(ExecInteractiveRequest.newBuilder().setInput(ProcessInput.newBuilder().setStdinEof(true)).build());
        input.onCompleted();
        var interactive = events.await(Await.scaled(CALL_TIMEOUT));
        assertEquals(Status.Code.OK, interactive.status().getCode(), interactive.status().toString());
        String echoed = interactive.messages().stream().filter(e -> e.getEvent().hasOutput())
                .map(e -> e.getEvent().getOutput().getData().toStringUtf8()).reduce("", String::concat);
        assertEquals("hello through stdin\n", echoed);

        // A timeout kills the command and says so.
        var timedOut = exec(sandbox.getId(), Command.newBuilder().addArgv("sleep").addArgv("600").setTimeoutMs(1000).build());
        assertEquals(Status.Code.OK, timedOut.status().getCode(), timedOut.status().toString());
        assertTrue(exitOf(timedOut.messages()).getTimedOut(), "timed_out: " + timedOut.messages());

        // WriteFile then ReadFile round-trips the bytes.
        byte[] content = "file content\n".repeat(10_000).getBytes(StandardCharsets.UTF_8);
        WriteFileResponse written = dev.kelpie.cli.FileUpload.send(async().withDeadlineAfter(
                Await.scaled(CALL_TIMEOUT).toMillis(), TimeUnit.MILLISECONDS), WriteFileStart.newBuilder()
                .setSandboxId(sandbox.getId()).setPath("/workspace/dir/f.txt").setCreateParents(true)
                .setSizeBytes(content.length).build(), new java.io.ByteArrayInputStream(content), 32 * 1024);
        assertEquals(content.length, written.getSizeBytes());
        ByteArrayOutputStream read = new ByteArrayOutputStream();
        sandboxes().readFile(ReadFileRequest.newBuilder().setSandboxId(sandbox.getId()).setPath("dir/f.txt").build())
                .forEachRemaining((ReadFileResponse r) -> read.writeBytes(r.getData().toByteArray()));
        assertTrue(java.util.Arrays.equals(content, read.toByteArray()), "ReadFile returns what WriteFile wrote");

        StatusRuntimeException missing = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                () -> sandboxes().readFile(ReadFileRequest.newBuilder().setSandboxId(sandbox.getId()).setPath("/nope").build())
                        .forEachRemaining(r -> { }));
        assertEquals(Status.Code.NOT_FOUND, missing.getStatus().getCode(), missing.getStatus().toString());

        // An upload whose client goes quiet halfway is ended, and the guest keeps nothing of it.
        var quiet = new dev.kelpie.daemon.grpc.StreamUpload<WriteFileRequest, WriteFileResponse>("the daemon");
        async().withDeadlineAfter(Await.scaled(CALL_TIMEOUT).toMillis(), TimeUnit.MILLISECONDS).writeFile(quiet);
        quiet.send(WriteFileRequest.newBuilder().setStart(WriteFileStart.newBuilder().setSandboxId(sandbox.getId())
                .setPath("/workspace/quiet.bin").setSizeBytes(1000)).build());
        quiet.send(WriteFileRequest.newBuilder().setData(com.google.protobuf.ByteString.copyFrom(new byte[100])).build());
        var idle = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class, quiet::answer);
        assertEquals(Status.Code.DEADLINE_EXCEEDED, idle.getStatus().getCode(), idle.getStatus().toString());
        assertTrue(idle.getStatus().getDescription().contains("during WriteFile"), idle.getStatus().toString());
        Await.until("the agent to drop the quiet upload's temporary file", Duration.ofSeconds(30), () -> {
            try {
                return stdout(exec(sandbox.getId(), sh("ls -a /workspace | grep -c quiet; true")).messages())
                        .equals("0\n");
            } catch (Exception e) {
                throw new AssertionError("listing /workspace failed", e);
            }
        });
    }

    @Test
    void aBiggerDiskIsGrownOnlineAtBootAndHoldsMoreThanTheTemplateCould() throws Exception {
        long templateMib = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(Path.of(System.getProperty("kelpie.it.imageDir"), "metadata.json").toFile())
                .path("disk_template").path("size_mib").asLong();
        assertTrue(templateMib > 0, "the image names its template's size");
        long askedMib = templateMib + 512;

        Sandbox sandbox = create(SandboxSpec.newBuilder().setDiskSizeMib((int) askedMib).build());

        assertEquals(askedMib, sandbox.getSpec().getDiskSizeMib(), "Create reports the disk the sandbox has");
        assertEquals(askedMib, sandboxes().get(GetSandboxRequest.newBuilder().setId(sandbox.getId()).build())
                .getSandbox().getSpec().getDiskSizeMib(), "and so does Get");
        assertEquals(askedMib * MIB_BYTES, Files.size(runtimeDir(sandbox.getId()).resolve("rw.ext4")));
        // df's 1M-blocks: the file system's size less its own metadata, so a little below what was asked.
        var df = exec(sandbox.getId(), sh("df -m /workspace | tail -n 1"));
        long workspaceMib = Long.parseLong(stdout(df.messages()).trim().split("\\s+")[1]);
        assertTrue(workspaceMib > templateMib + 400 && workspaceMib <= askedMib, "df -m /workspace: " + stdout(df.messages()));
        // A file larger than the whole template; fallocate only reserves blocks, which is quick even under TCG.
        long fileMib = templateMib + 100;
        var write = exec(sandbox.getId(), sh("fallocate -l " + fileMib + "M /workspace/big && wc -c < /workspace/big"));
        assertEquals(0, exitOf(write.messages()).getExitCode(), write.messages().toString());
        assertEquals(fileMib * MIB_BYTES, Long.parseLong(stdout(write.messages()).trim()));
        String console = Files.readString(runtimeDir(sandbox.getId()).resolve("console.log"));
        assertTrue(console.contains("init: grew the file system on /dev/vdb"), "the agent logs the growth: " + console);
        console.lines().filter(l -> l.contains("the file system on /dev/vdb")).forEach(System.out::println);
    }

    private static final long MIB_BYTES = 1024L * 1024;

    @Test
    void badRequestsGetClearErrorsAndCreateNothing() {
        assertStatus(Status.Code.NOT_FOUND, "image 9.9.9 for",
                () -> create(SandboxSpec.newBuilder().setImageVersion("9.9.9").build()));
        assertStatus(Status.Code.INVALID_ARGUMENT, "not-a-version",
                () -> create(SandboxSpec.newBuilder().setImageVersion("not-a-version").build()));
        assertStatus(Status.Code.RESOURCE_EXHAUSTED, "memory_mib 4096 exceeds the per-sandbox limit of 1024 MiB",
                () -> create(SandboxSpec.newBuilder().setMemoryMib(4096).build()));
        assertStatus(Status.Code.INVALID_ARGUMENT, "disk_size_mib 1 is smaller than image ",
                () -> create(SandboxSpec.newBuilder().setDiskSizeMib(1).build()));
        assertStatus(Status.Code.RESOURCE_EXHAUSTED, "disk_size_mib 70000 exceeds the per-sandbox limit of 65536 MiB",
                () -> create(SandboxSpec.newBuilder().setDiskSizeMib(70_000).build()));
        assertStatus(Status.Code.NOT_FOUND, "no sandbox nope", () -> sandboxes().get(GetSandboxRequest.newBuilder().setId("nope").build()));
        assertStatus(Status.Code.NOT_FOUND, "no sandbox nope", () -> exec("nope", sh("true")).status().asRuntimeException());
        assertEquals(0, sandboxes().list(dev.kelpie.api.v1.ListSandboxesRequest.getDefaultInstance()).getSandboxesCount());
    }

    private static void assertStatus(Status.Code code, String messagePart, ThrowingCall call) {
        StatusRuntimeException e;
        try {
            Object result = call.run();
            if (result instanceof StatusRuntimeException s) {
                e = s;
            } else {
                throw new AssertionError("expected " + code + " but the call succeeded: " + result);
            }
        } catch (StatusRuntimeException thrown) {
            e = thrown;
        } catch (Exception other) {
            throw new AssertionError(other);
        }
        assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
        assertTrue(String.valueOf(e.getStatus().getDescription()).contains(messagePart), e.getStatus().toString());
    }

    @FunctionalInterface
    interface ThrowingCall {
        Object run() throws Exception;
    }

    @Test
    void killingQemuFailsTheSandboxAndEndsAnOpenExecWithUnavailable() throws Exception {
        Sandbox sandbox = create();
        StreamCollector<ExecResponse> events = new StreamCollector<>();
        async().exec(ExecRequest.newBuilder().setSandboxId(sandbox.getId())
                .setCommand(sh("echo started; sleep 600")).build(), events);
        Await.until("the exec to print", Duration.ofSeconds(60), () -> hasOutput(events));

        ProcessHandle.of(qemuPid(sandbox.getId())).orElseThrow().destroyForcibly();

        var outcome = events.await(Await.scaled(CALL_TIMEOUT));
        assertEquals(Status.Code.UNAVAILABLE, outcome.status().getCode(), outcome.status().toString());
        Await.until("the sandbox to be marked failed", Duration.ofSeconds(60), () -> sandboxes()
                .get(GetSandboxRequest.newBuilder().setId(sandbox.getId()).build()).getSandbox().getState()
                == SandboxState.SANDBOX_STATE_FAILED);
        Sandbox failed = sandboxes().get(GetSandboxRequest.newBuilder().setId(sandbox.getId()).build()).getSandbox();
        assertTrue(failed.getFailureReason().contains("exited unexpectedly"), failed.getFailureReason());
        // The sandbox turns FAILED first, then its dead VM's files go.
        Await.until("no stale socket", Duration.ofSeconds(30),
                () -> !Files.exists(runtimeDir(sandbox.getId()).resolve("agent.sock")));
    }

    private static boolean hasOutput(StreamCollector<ExecResponse> events) {
        return events.messages().stream().anyMatch(e -> e.getEvent().hasOutput());
    }

    @Test
    void pauseAndResumeKeepARunningProcess() throws Exception {
        Sandbox sandbox = create();
        String processId = startDetached(sandbox.getId(), "while true; do echo tick; sleep 1; done");
        assertEquals(SandboxState.SANDBOX_STATE_PAUSED,
                sandboxes().pause(PauseSandboxRequest.newBuilder().setId(sandbox.getId()).build()).getSandbox().getState());
        assertStatus(Status.Code.FAILED_PRECONDITION, "is paused", () -> exec(sandbox.getId(), sh("true")).status().asRuntimeException());
        assertEquals(SandboxState.SANDBOX_STATE_READY,
                sandboxes().resume(ResumeSandboxRequest.newBuilder().setId(sandbox.getId()).build()).getSandbox().getState());
        assertTrue(process(sandbox.getId(), processId).getRunning(), "the detached process survived pause and resume");
        assertEquals("ok\n", stdout(exec(sandbox.getId(), sh("echo ok")).messages()));
    }

    /** Starts a detached process, waits for its Started event, and hangs up: the process lives on. */
    static String startDetached(String sandboxId, String script) throws Exception {
        CompletableFuture<String> started = new CompletableFuture<>();
        var call = async().withDeadlineAfter(Await.scaled(CALL_TIMEOUT).toMillis(), TimeUnit.MILLISECONDS);
        io.grpc.Context.CancellableContext context = io.grpc.Context.current().withCancellation();
        context.run(() -> call.exec(ExecRequest.newBuilder().setSandboxId(sandboxId)
                .setCommand(sh(script).toBuilder().setDetached(true)).build(), new StreamObserver<>() {
                    @Override
                    public void onNext(ExecResponse value) {
                        if (value.getEvent().hasStarted()) {
                            started.complete(value.getEvent().getStarted().getProcessId());
                        }
                    }

                    @Override
                    public void onError(Throwable t) {
                        started.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {
                        started.completeExceptionally(new AssertionError("the detached process ended"));
                    }
                }));
        String id = started.get(Await.scaled(CALL_TIMEOUT).toMillis(), TimeUnit.MILLISECONDS);
        context.cancel(null);
        return id;
    }

    static ProcessSummary process(String sandboxId, String processId) {
        return sandboxes().listProcesses(ListProcessesRequest.newBuilder().setSandboxId(sandboxId).build()).getProcessesList()
                .stream().filter(p -> p.getProcessId().equals(processId)).findFirst()
                .orElseThrow(() -> new AssertionError("process " + processId + " is not listed"));
    }

    @Test
    void afterKill9TheNextDaemonReadoptsSandboxesAndTheirDetachedProcesses() throws Exception {
        Sandbox sandbox = create();
        long pid = qemuPid(sandbox.getId());
        String processId = startDetached(sandbox.getId(), "i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done");

        daemon.kill9();
        assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "the VM outlives the daemon");
        channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        daemon = DaemonProcess.start(daemon.stateDir, daemon.socket, work.resolve("successor.log"),
                daemonArgs(System.getProperty("kelpie.it.imageDir")));
        daemon.awaitServing();
        channel = channels.open(daemon.socket);

        Sandbox adopted = sandboxes().get(GetSandboxRequest.newBuilder().setId(sandbox.getId()).build()).getSandbox();
        assertEquals(SandboxState.SANDBOX_STATE_READY, adopted.getState(), adopted.getFailureReason());
        assertEquals(pid, qemuPid(sandbox.getId()), "the same VM");
        assertEquals("still here\n", stdout(exec(sandbox.getId(), sh("echo still here")).messages()));
        assertTrue(process(sandbox.getId(), processId).getRunning(), "the detached process still runs");

        StreamCollector<AttachResponse> attached = new StreamCollector<>();
        StreamObserver<AttachRequest> attach = isolatedAsync().attach(attached);
        attach.onNext(AttachRequest.newBuilder().setStart(AttachStart.newBuilder().setSandboxId(sandbox.getId())
                .setProcessId(processId)).build());
        Await.until("replayed output of the detached process (or the end of the attach)", Duration.ofSeconds(60),
                () -> attached.isDone() || attached.messages().stream().anyMatch(m -> m.getEvent().hasOutput()
                        && m.getEvent().getOutput().getData().toStringUtf8().contains("tick 0")));
        assertFalse(attached.isDone(), "the attach still follows the process: " + attached.messages());
        // Signal ends the process, and with it the attach: one final exit status.
        sandboxes().signal(dev.kelpie.api.v1.SignalRequest.newBuilder().setSandboxId(sandbox.getId())
                .setProcessId(processId).setSignal(15).build());
        var ended = attached.await(Await.scaled(CALL_TIMEOUT));
        assertEquals(Status.Code.OK, ended.status().getCode(), ended.status().toString());
        assertEquals(15, ended.messages().get(ended.messages().size() - 1).getEvent().getExit().getSignal());
        attach.onCompleted();

        // A late client, after the exit reached the first: it still gets the output's tail and the exit status.
        StreamCollector<AttachResponse> late = new StreamCollector<>();
        StreamObserver<AttachRequest> lateAttach = isolatedAsync().attach(late);
        lateAttach.onNext(AttachRequest.newBuilder().setStart(AttachStart.newBuilder().setSandboxId(sandbox.getId())
                .setProcessId(processId)).build());
        var replayed = late.await(Await.scaled(CALL_TIMEOUT));
        assertEquals(Status.Code.OK, replayed.status().getCode(), replayed.status().toString());
        assertTrue(replayed.messages().stream().anyMatch(m -> m.getEvent().hasOutput()
                && m.getEvent().getOutput().getData().toStringUtf8().contains("tick")), "the output's tail is replayed");
        assertEquals(15, replayed.messages().get(replayed.messages().size() - 1).getEvent().getExit().getSignal());
        lateAttach.onCompleted();
    }

    @Test
    void aMemoryHogAndAForkBombAreContainedWhileTheAgentKeepsAnswering() throws Exception {
        Sandbox sandbox = create();
        // awk doubles a string until the sandbox's memory limit (256 MiB minus the guest's 64 MiB reserve) ends it.
        // User-space memory on purpose: a kernel copy (dd from /dev/zero) fails with EFAULT at the limit instead.
        var hog = exec(sandbox.getId(), Command.newBuilder().addArgv("awk")
                .addArgv("BEGIN { s = \"0123456789abcdef\"; while (1) s = s s }").setTimeoutMs(90_000).build());
        assertEquals(Status.Code.OK, hog.status().getCode(), hog.status().toString());
        var hogExit = exitOf(hog.messages());
        assertEquals(SIGKILL, hogExit.getSignal(), "the OOM killer ends the hog: " + hogExit);
        assertFalse(hogExit.getTimedOut(), "killed by its memory limit, not by the timeout: " + hogExit);

        var bomb = exec(sandbox.getId(), sh("b() { b | b & }; b; sleep 3").toBuilder().setTimeoutMs(10_000).build());
        assertEquals(Status.Code.OK, bomb.status().getCode(), bomb.status().toString());
        exitOf(bomb.messages());
        Await.until("the fork bomb's processes to be gone", Duration.ofSeconds(60),
                () -> sandboxes().listProcesses(ListProcessesRequest.newBuilder().setSandboxId(sandbox.getId()).build())
                        .getProcessesList().stream().noneMatch(ProcessSummary::getRunning));

        assertEquals("alive\n", stdout(exec(sandbox.getId(), sh("echo alive")).messages()));
        assertEquals(SandboxState.SANDBOX_STATE_READY,
                sandboxes().get(GetSandboxRequest.newBuilder().setId(sandbox.getId()).build()).getSandbox().getState());
    }

    @Test
    void fourSandboxesRunExecsConcurrently() throws Exception {
        List<CompletableFuture<Sandbox>> creating = new java.util.ArrayList<>();
        for (int i = 0; i < 4; i++) {
            creating.add(CompletableFuture.supplyAsync(SandboxesIT::create));
        }
        List<Sandbox> four = new java.util.ArrayList<>();
        for (CompletableFuture<Sandbox> c : creating) {
            four.add(c.get(Await.scaled(CREATE_TIMEOUT).toMillis(), TimeUnit.MILLISECONDS));
        }
        List<StreamCollector<ExecResponse>> running = new java.util.ArrayList<>();
        for (Sandbox s : four) {
            StreamCollector<ExecResponse> events = new StreamCollector<>();
            // Each exec waits for a file the test writes only after all four started: they overlap for sure.
            async().exec(ExecRequest.newBuilder().setSandboxId(s.getId()).setCommand(sh(
                    "echo started; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo " + s.getId())).build(), events);
            running.add(events);
        }
        Await.until("all four execs to start", Duration.ofSeconds(120), () -> running.stream().allMatch(SandboxesIT::hasOutput));
        for (Sandbox s : four) {
            assertEquals(Status.Code.OK, exec(s.getId(), sh("touch /tmp/go")).status().getCode());
        }
        for (int i = 0; i < 4; i++) {
            var outcome = running.get(i).await(Await.scaled(CALL_TIMEOUT));
            assertEquals(Status.Code.OK, outcome.status().getCode(), outcome.status().toString());
            assertEquals("started\n" + four.get(i).getId() + "\n", stdout(outcome.messages()));
        }
    }

    @Test
    void aSlowClientThrottlesTheGuestProcessAndTheDaemonHeapStaysSmall() throws Exception {
        Sandbox sandbox = create();
        var call = execReadingOneMessage(sandbox.getId());

        // The guest process must stall: its produced byte count stops growing well short of 1 GiB.
        long[] last = {-1};
        Await.until("the guest process to stall", Duration.ofSeconds(120), () -> {
            long now = stdoutBytesOfRunning(sandbox.getId());
            boolean stalled = now == last[0];
            last[0] = now;
            if (!stalled) {
                sleepQuietly(Duration.ofSeconds(2));
            }
            return stalled;
        });
        assertTrue(last[0] < 256L * 1024 * 1024, "at most the windows and buffers on the way are filled, not 1 GiB: " + last[0]);
        long heapUsed = DaemonHeap.usedAfterGc(daemon.process.pid());
        assertTrue(heapUsed < 256L * 1024 * 1024, "daemon heap after GC: " + heapUsed + " bytes");

        call.cancel("test done", null);
    }

    @Test
    void aClientPushingStdinToAProcessThatNeverReadsItIsHeldBackAndTheDaemonHeapStaysSmall() throws Exception {
        Sandbox sandbox = create();
        long heapBefore = DaemonHeap.usedAfterGc(daemon.process.pid());
        isolatedAsync();
        var call = isolated.get(isolated.size() - 1).newCall(SandboxesGrpc.getExecInteractiveMethod(),
                io.grpc.CallOptions.DEFAULT);
        java.util.concurrent.Semaphore ready = new java.util.concurrent.Semaphore(0);
        call.start(new io.grpc.ClientCall.Listener<>() {
            @Override
            public void onReady() {
                ready.release();
            }
        }, new io.grpc.Metadata());
        call.request(Integer.MAX_VALUE);
        call.sendMessage(ExecInteractiveRequest.newBuilder().setStart(ExecInteractiveStart.newBuilder()
                .setSandboxId(sandbox.getId()).setCommand(Command.newBuilder().addArgv("sleep").addArgv("600")
                        .setStdinMode(StdinMode.STDIN_MODE_PIPE))).build());

        // As fast as flow control lets it, up to 1 GiB: the daemon must stop taking it once the guest's pipe is full.
        var chunk = ExecInteractiveRequest.newBuilder().setInput(ProcessInput.newBuilder()
                .setStdin(com.google.protobuf.ByteString.copyFrom(new byte[1024 * 1024]))).build();
        long sentBytes = 0;
        while (sentBytes < 1024L * 1024 * 1024) {
            if (call.isReady()) {
                call.sendMessage(chunk);
                sentBytes += 1024 * 1024;
            } else if (!ready.tryAcquire(10, TimeUnit.SECONDS)) {
                break; // held back: no room for ten seconds
            }
        }
        long heapAfter = DaemonHeap.usedAfterGc(daemon.process.pid());
        call.cancel("test done", null);
        assertTrue(sentBytes < 256L * 1024 * 1024, "the client was held back after the windows on the way filled, not"
                + " let through with 1 GiB: " + sentBytes + " bytes sent");
        assertTrue(heapAfter - heapBefore < 64L * 1024 * 1024, "daemon heap grew by " + (heapAfter - heapBefore)
                + " bytes (" + heapBefore + " -> " + heapAfter + ")");
    }

    @Test
    void cancellingAStalledExecKillsTheGuestProcess() throws Exception {
        Sandbox sandbox = create();
        var call = execReadingOneMessage(sandbox.getId());
        call.cancel("the client gives up", null);
        Await.until("cancelling the call to kill the guest process", Duration.ofSeconds(60),
                () -> sandboxes().listProcesses(ListProcessesRequest.newBuilder().setSandboxId(sandbox.getId()).build())
                        .getProcessesList().stream().noneMatch(ProcessSummary::getRunning));
    }

    /** Execs 1 GiB of output as a client that takes one message and then stops reading. */
    private static io.grpc.ClientCall<ExecRequest, ExecResponse> execReadingOneMessage(String sandboxId) throws Exception {
        isolatedAsync();
        var call = isolated.get(isolated.size() - 1).newCall(SandboxesGrpc.getExecMethod(), io.grpc.CallOptions.DEFAULT);
        CompletableFuture<Void> firstMessage = new CompletableFuture<>();
        call.start(new io.grpc.ClientCall.Listener<>() {
            @Override
            public void onMessage(ExecResponse message) {
                firstMessage.complete(null);
            }
        }, new io.grpc.Metadata());
        call.sendMessage(ExecRequest.newBuilder().setSandboxId(sandboxId)
                .setCommand(Command.newBuilder().addArgv("head").addArgv("-c").addArgv("1073741824").addArgv("/dev/zero")).build());
        call.halfClose();
        call.request(1);
        firstMessage.get(Await.scaled(CALL_TIMEOUT).toMillis(), TimeUnit.MILLISECONDS);
        return call;
    }

    private static long stdoutBytesOfRunning(String sandboxId) {
        return sandboxes().listProcesses(ListProcessesRequest.newBuilder().setSandboxId(sandboxId).build()).getProcessesList()
                .stream().filter(ProcessSummary::getRunning).mapToLong(ProcessSummary::getStdoutBytes).sum();
    }

    private static void sleepQuietly(Duration d) {
        try {
            Thread.sleep(d.toMillis()); // the sampling interval of a measurement, not a wait for a condition
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void theCliCreatesExecsCopiesAndRemoves() throws Exception {
        KelpieCliRunner cli = new KelpieCliRunner(daemon.socket, work);
        Duration t = Duration.ofSeconds(180);
        var created = cli.run(t, "sandbox", "create", "--label", "who=cli");
        assertEquals(0, created.exitCode(), created.stderr());
        String id = created.stdout().strip();

        var exec = cli.run(t, "exec", id, "--", "sh", "-c", "echo out; echo err >&2; exit 3");
        assertEquals(3, exec.exitCode(), "the command's exit code: " + exec.stderr());
        assertEquals("out\n", exec.stdout());
        assertEquals("err\n", exec.stderr());

        Path local = work.resolve("upload.txt");
        Files.writeString(local, "copied\n".repeat(1000));
        var up = cli.run(t, "cp", local.toString(), id + ":/workspace/up.txt");
        assertEquals(0, up.exitCode(), up.stderr());
        Path back = work.resolve("back.txt");
        var down = cli.run(t, "cp", id + ":/workspace/up.txt", back.toString());
        assertEquals(0, down.exitCode(), down.stderr());
        assertEquals(Files.readString(local), Files.readString(back));

        var ls = cli.run(t, "sandbox", "ls", "--label", "who=cli");
        assertTrue(ls.stdout().contains(id) && ls.stdout().contains("ready"), ls.stdout());
        var detached = cli.run(t, "exec", "-d", id, "--", "sleep", "600");
        assertEquals(0, detached.exitCode(), detached.stderr());
        var ps = cli.run(t, "ps", id);
        assertTrue(ps.stdout().contains("sleep 600") && ps.stdout().contains(detached.stdout().strip()), ps.stdout());
        var info = cli.run(t, "info");
        assertTrue(info.stdout().contains("backend    qemu") && info.stdout().contains("1 running"), info.stdout());

        var missing = cli.run(t, "exec", "nope", "--", "true");
        assertEquals(70, missing.exitCode());
        assertTrue(missing.stderr().contains("NOT_FOUND: no sandbox nope"), missing.stderr());

        var rm = cli.run(t, "sandbox", "rm", id);
        assertEquals(0, rm.exitCode(), rm.stderr());
        assertFalse(cli.run(t, "sandbox", "ls").stdout().contains(id));
    }

    @Test
    void prometheusMetricsCountSandboxesExecsAndBytes() throws Exception {
        Sandbox sandbox = create();
        exec(sandbox.getId(), sh("head -c 1000 /dev/zero"));

        Process curl = new ProcessBuilder("curl", "-sS", "--max-time", "30", "--unix-socket", daemon.metricsSocket().toString(),
                "http://localhost/q/metrics").redirectErrorStream(true).start();
        String metrics = new String(curl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, curl.waitFor(), metrics);
        assertTrue(metrics.contains("kelpie_sandboxes{state=\"ready\"} 1.0"), metrics);
        assertTrue(metrics.matches("(?s).*kelpie_exec_output_bytes_total(\\{[^}]*})? [1-9][0-9.E]*.*"), "bytes streamed counted");
        assertTrue(metrics.contains("kelpie_sandbox_create_seconds_count{from_pool=\"false\",outcome=\"ready\"}"), "create timed");
        assertTrue(metrics.contains("kelpie_exec_start_latency_seconds_bucket"), "exec latency histogram");
    }

    @Test
    void watchStreamsEveryStateChangeInOrder() throws Exception {
        StreamCollector<dev.kelpie.api.v1.WatchSandboxesResponse> watched = new StreamCollector<>();
        io.grpc.Context.CancellableContext context = io.grpc.Context.current().withCancellation();
        context.run(() -> async().watch(dev.kelpie.api.v1.WatchSandboxesRequest.getDefaultInstance(), watched));
        try {
            // The subscription is live once the watch reports a first sandbox; the second one is watched whole.
            Sandbox first = create();
            Await.until("the watch to report the first sandbox", Duration.ofSeconds(30), () -> watched.messages().stream()
                    .anyMatch(m -> m.getSandbox().getId().equals(first.getId())));
            Sandbox sandbox = create();
            sandboxes().delete(DeleteSandboxRequest.newBuilder().setId(sandbox.getId()).build());
            Await.until("the STOPPED event", Duration.ofSeconds(30), () -> watched.messages().stream()
                    .anyMatch(m -> m.getSandbox().getId().equals(sandbox.getId())
                            && m.getSandbox().getState() == SandboxState.SANDBOX_STATE_STOPPED));
            List<String> transitions = watched.messages().stream().filter(m -> m.getSandbox().getId().equals(sandbox.getId()))
                    .map(m -> m.getPreviousState().name().replace("SANDBOX_STATE_", "") + ">"
                            + m.getSandbox().getState().name().replace("SANDBOX_STATE_", "")).toList();
            assertEquals(List.of("UNSPECIFIED>CREATING", "CREATING>READY", "READY>STOPPING", "STOPPING>STOPPED"), transitions);
        } finally {
            context.cancel(null);
        }
    }

    @Test
    void aClientDeadlineEndsTheExecAndKillsItsProcess() throws Exception {
        Sandbox sandbox = create();
        StreamCollector<ExecResponse> events = new StreamCollector<>();
        async().withDeadlineAfter(3, TimeUnit.SECONDS).exec(ExecRequest.newBuilder().setSandboxId(sandbox.getId())
                .setCommand(sh("echo started; exec sleep 600")).build(), events);
        var outcome = events.await(Await.scaled(CALL_TIMEOUT));
        assertEquals(Status.Code.DEADLINE_EXCEEDED, outcome.status().getCode(), outcome.status().toString());
        Await.until("the process to be killed", Duration.ofSeconds(60),
                () -> sandboxes().listProcesses(ListProcessesRequest.newBuilder().setSandboxId(sandbox.getId()).build())
                        .getProcessesList().stream().noneMatch(ProcessSummary::getRunning));
    }

    /**
     * Attach streams cancelled by the client on the connection every other call of this test uses: each cancel
     * resets one stream, and the calls after it still work (the unified Vert.x server could tear the connection down,
     * quarkusio/quarkus#56268; ADR 0023).
     */
    @Test
    void aCancelledAttachLeavesTheClientConnectionUsable() throws Exception {
        Sandbox sandbox = create();
        String processId = startDetached(sandbox.getId(), "while true; do echo tick; sleep 1; done");
        for (int round = 0; round < CANCELLED_ATTACH_ROUNDS; round++) {
            StreamCollector<AttachResponse> attached = new StreamCollector<>();
            StreamObserver<AttachRequest> attach = async().attach(attached);
            attach.onNext(AttachRequest.newBuilder().setStart(AttachStart.newBuilder().setSandboxId(sandbox.getId())
                    .setProcessId(processId)).build());
            Await.until("attached output", Duration.ofSeconds(60), () -> attached.isDone()
                    || attached.messages().stream().anyMatch(m -> m.getEvent().hasOutput()));
            assertFalse(attached.isDone(), "the attach follows the process: " + attached.messages());
            attach.onError(Status.CANCELLED.asRuntimeException());
            assertEquals(Status.Code.CANCELLED, attached.await(Await.scaled(CALL_TIMEOUT)).status().getCode());

            assertEquals(SandboxState.SANDBOX_STATE_READY,
                    sandboxes().get(GetSandboxRequest.newBuilder().setId(sandbox.getId()).build()).getSandbox().getState());
            assertTrue(process(sandbox.getId(), processId).getRunning(), "a cancelled attach leaves the process running");
        }
    }

    @Test
    void anInteractiveExecOnAPtySeesItsTerminalAndResizes() throws Exception {
        Sandbox sandbox = create();
        StreamCollector<ExecInteractiveResponse> events = new StreamCollector<>();
        StreamObserver<ExecInteractiveRequest> input = async().execInteractive(events);
        input.onNext(ExecInteractiveRequest.newBuilder().setStart(ExecInteractiveStart.newBuilder().setSandboxId(sandbox.getId())
                .setCommand(Command.newBuilder().addArgv("sh").setStdinMode(StdinMode.STDIN_MODE_PTY)
                        .setTerminalSize(dev.kelpie.api.v1.TerminalSize.newBuilder().setRows(40).setColumns(100)))).build());
        input.onNext(ExecInteractiveRequest.newBuilder().setInput(ProcessInput.newBuilder()
                .setStdin(ByteString.copyFromUtf8("tty; stty size\n"))).build());
        Await.until("the shell to report its terminal", Duration.ofSeconds(60), () -> ptyText(events).contains("40 100"));
        input.onNext(ExecInteractiveRequest.newBuilder().setInput(ProcessInput.newBuilder()
                .setResize(dev.kelpie.api.v1.TerminalSize.newBuilder().setRows(50).setColumns(120))).build());
        input.onNext(ExecInteractiveRequest.newBuilder().setInput(ProcessInput.newBuilder()
                .setStdin(ByteString.copyFromUtf8("stty size; exit 7\n"))).build());
        var outcome = events.await(Await.scaled(CALL_TIMEOUT));
        assertEquals(Status.Code.OK, outcome.status().getCode(), outcome.status().toString());
        String text = ptyText(events);
        assertTrue(text.contains("/dev/pts/"), "a real pseudo-terminal: " + text);
        assertTrue(text.contains("50 120"), "the resize reached the terminal: " + text);
        assertEquals(7, outcome.messages().get(outcome.messages().size() - 1).getEvent().getExit().getExitCode());
    }

    /** The first sample of {@code samples} taken at or after {@code sinceMs} that passes {@code check}. */
    private static java.util.Optional<SandboxStats> sampleAfter(StreamCollector<SandboxStatsResponse> samples, long sinceMs,
            int within, java.util.function.Predicate<SandboxStats> check) {
        return samples.messages().stream().map(SandboxStatsResponse::getStats)
                .filter(s -> s.getSampledAtUnixMs() >= sinceMs).limit(within).filter(check).findFirst();
    }

    @Test
    void statsShowAGuestHoldingMemoryAndSpinningWithinTwoIntervalsThenPausedWithoutGuestFiguresThenNotFound()
            throws Exception {
        long intervalMs = 1000;
        Sandbox sandbox = create(SandboxSpec.newBuilder().setMemoryMib(512).build());
        String id = sandbox.getId();
        StreamCollector<SandboxStatsResponse> samples = new StreamCollector<>();
        isolatedAsync().stats(SandboxStatsRequest.newBuilder().setId(id).setIntervalMs((int) intervalMs).build(), samples);
        Await.until("a first sample with guest figures", Duration.ofSeconds(60),
                () -> samples.messages().stream().anyMatch(m -> m.getStats().hasGuest()));
        SandboxStats before = samples.messages().stream().map(SandboxStatsResponse::getStats).filter(SandboxStats::hasGuest)
                .findFirst().orElseThrow();
        assertEquals(SandboxState.SANDBOX_STATE_READY, before.getState());
        assertEquals(qemuPid(id), before.getVm().getPid());
        assertTrue(before.getVm().hasPssBytes() && before.getDiskAllocatedBytes() > 0
                && before.getGuest().getFilesystemTotalBytes() > 0 && before.getGuest().getProcessCount() > 1, before.toString());

        // 100 MiB in a tmpfs is guest memory held until the file goes; the loop keeps one vCPU busy.
        StreamCollector<ExecResponse> load = new StreamCollector<>();
        isolatedAsync().exec(ExecRequest.newBuilder().setSandboxId(id).setCommand(sh(
                "dd if=/dev/zero of=/dev/shm/fill bs=1048576 count=100 2>/dev/null && echo filled && while :; do :; done"))
                .build(), load);
        Await.until("the guest to fill 100 MiB", Duration.ofSeconds(120), () -> stdout(load.messages()).contains("filled"));
        long filledMs = System.currentTimeMillis();
        long mib = 1024 * 1024;
        Await.until("two samples after the fill", Duration.ofSeconds(60), () -> samples.messages().stream()
                .filter(m -> m.getStats().getSampledAtUnixMs() >= filledMs).count() >= 2);
        String seen = samples.messages().toString();
        assertTrue(sampleAfter(samples, filledMs, 2, s -> s.hasGuest() && before.getGuest().getMemoryAvailableBytes()
                - s.getGuest().getMemoryAvailableBytes() >= 90 * mib).isPresent(), "guest memory available fell by 100 MiB: " + seen);
        assertTrue(sampleAfter(samples, filledMs, 2, s -> s.getVm().getRssBytes() >= 100 * mib).isPresent(),
                "the VM process holds the guest's 100 MiB: " + seen);
        assertTrue(sampleAfter(samples, filledMs, 2, s -> s.getVm().getCpuPercent() >= 30).isPresent(),
                "a spinning vCPU shows as CPU: " + seen);

        KelpieCliRunner cli = new KelpieCliRunner(daemon.socket, work);
        var table = cli.run(Await.scaled(Duration.ofSeconds(60)), "stats", "--no-stream", id);
        assertEquals(0, table.exitCode(), table.stderr());
        assertTrue(table.stdout().startsWith("ID ") && table.stdout().contains("CPU %")
                && table.stdout().lines().anyMatch(l -> l.startsWith(id + " ") && l.contains(" ready ")), table.stdout());

        // Paused: host-side figures go on, the frozen agent is not asked.
        sandboxes().pause(PauseSandboxRequest.newBuilder().setId(id).build());
        long pausedMs = System.currentTimeMillis();
        Await.until("a sample of the paused sandbox", Duration.ofSeconds(30), () -> samples.messages().stream()
                .anyMatch(m -> m.getStats().getState() == SandboxState.SANDBOX_STATE_PAUSED
                        && m.getStats().getSampledAtUnixMs() >= pausedMs));
        SandboxStats paused = samples.messages().stream().map(SandboxStatsResponse::getStats)
                .filter(s -> s.getState() == SandboxState.SANDBOX_STATE_PAUSED).findFirst().orElseThrow();
        assertFalse(paused.hasGuest(), paused.toString());
        assertTrue(paused.getVm().getRssBytes() >= 100 * mib && paused.getVm().getCpuSeconds() > 0, paused.toString());
        dev.kelpie.api.v1.SandboxUsage usage = sandboxes().get(GetSandboxRequest.newBuilder().setId(id).build())
                .getSandbox().getUsage();
        assertTrue(usage.getCpuSeconds() >= paused.getVm().getCpuSeconds() - 30 && usage.getCpuSeconds() > 1
                && usage.getMemoryMibSeconds() > 512, "Get reports the usage: " + usage);

        sandboxes().delete(DeleteSandboxRequest.newBuilder().setId(id).build());
        var ended = samples.await(Await.scaled(CALL_TIMEOUT));
        assertEquals(Status.Code.NOT_FOUND, ended.status().getCode(), ended.status().toString());
        var gone = cli.run(Await.scaled(Duration.ofSeconds(60)), "stats", "--no-stream", id);
        assertEquals(70, gone.exitCode(), gone.stdout());
        assertTrue(gone.stderr().contains("NOT_FOUND"), gone.stderr());

        StreamCollector<SandboxStatsResponse> unknown = new StreamCollector<>();
        async().stats(SandboxStatsRequest.newBuilder().setId("no-such-sandbox").build(), unknown);
        assertEquals(Status.Code.NOT_FOUND, unknown.await(Await.scaled(CALL_TIMEOUT)).status().getCode());
    }

    private static String ptyText(StreamCollector<ExecInteractiveResponse> events) {
        return events.messages().stream().filter(e -> e.getEvent().hasOutput())
                .map(e -> e.getEvent().getOutput().getData().toStringUtf8()).reduce("", String::concat);
    }
}
