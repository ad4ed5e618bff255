package dev.kelpie.daemon.agent;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.kelpie.agent.v1.AgentGrpc;
import dev.kelpie.agent.v1.ExecStart;
import dev.kelpie.agent.v1.FileType;
import dev.kelpie.agent.v1.InfoRequest;
import dev.kelpie.agent.v1.InfoResponse;
import dev.kelpie.agent.v1.OutputStream;
import dev.kelpie.agent.v1.ProcessEvent;
import dev.kelpie.agent.v1.ProcessInput;
import dev.kelpie.agent.v1.ReadFileRequest;
import dev.kelpie.agent.v1.ReadFileResponse;
import dev.kelpie.agent.v1.StatRequest;
import dev.kelpie.agent.v1.StdinChunk;
import dev.kelpie.agent.v1.StdinEof;
import dev.kelpie.agent.v1.StdinMode;
import dev.kelpie.agent.v1.WriteFileRequest;
import dev.kelpie.agent.v1.WriteFileResponse;
import dev.kelpie.agent.v1.WriteFileStart;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * grpc-java (Netty, native Unix-socket channel) against the real Rust agent binary: the two gRPC implementations
 * must agree on framing, streaming, trailers and status codes.
 */
class AgentInteropIT {

    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(30);
    private static final long START_TIMEOUT_MS = 30_000;

    @TempDir
    static Path dir;

    static AgentProcess agent;
    static UnixSocketChannels channels;
    static ManagedChannel channel;

    @BeforeAll
    static void startAgent() throws Exception {
        String binary = System.getProperty("kelpie.it.agentBinary", "");
        Assumptions.assumeFalse(binary.isBlank(), "no agent binary given (-Dkelpie.agentBinary=...; scripts/dev passes it)");
        agent = AgentProcess.start(Path.of(binary), dir);
        channels = new UnixSocketChannels();
        channel = channels.open(agent.socket);
        long deadline = System.currentTimeMillis() + START_TIMEOUT_MS;
        while (true) {
            try {
                blocking().info(InfoRequest.getDefaultInstance());
                return;
            } catch (StatusRuntimeException e) {
                if (!agent.isAlive() || System.currentTimeMillis() > deadline) {
                    throw new AssertionError("agent did not answer Info: " + e + "\n" + agent.logText(), e);
                }
                Thread.sleep(50);
            }
        }
    }

    @AfterAll
    static void stopAgent() throws InterruptedException {
        if (channel != null) {
            channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        }
        if (channels != null) {
            channels.close();
        }
        if (agent != null) {
            agent.close();
        }
    }

    private static AgentGrpc.AgentBlockingStub blocking() {
        return AgentGrpc.newBlockingStub(channel).withDeadlineAfter(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    }

    private static AgentGrpc.AgentStub async() {
        return AgentGrpc.newStub(channel).withDeadlineAfter(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Test
    void infoReportsVersionsAndArch() {
        InfoResponse info = blocking().info(InfoRequest.getDefaultInstance());
        assertEquals(1, info.getProtocolVersion());
        assertEquals(AgentProcess.IMAGE_VERSION, info.getImageVersion());
        String arch = System.getProperty("os.arch").equals("amd64") ? "x86_64" : System.getProperty("os.arch");
        assertEquals(arch, info.getArch());
        assertTrue(info.getAgentVersion().matches("\\d+\\.\\d+\\.\\d+.*"), info.getAgentVersion());
        assertTrue(info.getMaxChunkBytes() > 0);
    }

    @Test
    void execStreamsOutputThenExactlyOneFinalEvent() throws Exception {
        List<ProcessEvent> events = exec(ExecStart.newBuilder().addArgv("/bin/sh").addArgv("-c")
                .addArgv("echo out; echo err >&2; exit 3").build(), List.of());

        assertTrue(events.getFirst().hasStarted(), events.toString());
        assertTrue(events.getFirst().getStarted().getPid() > 0);
        assertEquals("out\n", output(events, OutputStream.OUTPUT_STREAM_STDOUT));
        assertEquals("err\n", output(events, OutputStream.OUTPUT_STREAM_STDERR));
        assertEquals(1, AgentCalls.finalEvents(events), events.toString());
        assertTrue(events.getLast().hasExited(), "the final event comes last");
        assertEquals(3, events.getLast().getExited().getExitCode());
    }

    @Test
    void execPipesStdinUntilEof() throws Exception {
        ExecStart cat = ExecStart.newBuilder().addArgv("cat").setStdinMode(StdinMode.STDIN_MODE_PIPE).build();
        List<ProcessInput> input = List.of(
                ProcessInput.newBuilder().setStdin(StdinChunk.newBuilder().setData(ByteString.copyFromUtf8("hello ")).setOffsetBytes(0)).build(),
                ProcessInput.newBuilder().setStdin(StdinChunk.newBuilder().setData(ByteString.copyFromUtf8("agent")).setOffsetBytes(6)).build(),
                ProcessInput.newBuilder().setStdinEof(StdinEof.getDefaultInstance()).build());
        List<ProcessEvent> events = exec(cat, input);

        assertEquals("hello agent", output(events, OutputStream.OUTPUT_STREAM_STDOUT));
        assertEquals(0, events.getLast().getExited().getExitCode());
    }

    @Test
    void execOfAMissingProgramFailsWithAFinalEvent() throws Exception {
        List<ProcessEvent> events = exec(ExecStart.newBuilder().addArgv("/no/such/program").build(), List.of());
        assertEquals(1, AgentCalls.finalEvents(events), events.toString());
        assertTrue(events.getLast().hasFailed(), events.toString());
    }

    @Test
    void fileRoundTripKeepsEveryByteAndTheHash() throws Exception {
        byte[] content = new byte[3 * 1024 * 1024 + 17];
        new Random(42).nextBytes(content);
        String sha256 = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content));

        StreamCollector<WriteFileResponse> written = new StreamCollector<>();
        StreamObserver<WriteFileRequest> upload = async().writeFile(written);
        upload.onNext(WriteFileRequest.newBuilder().setStart(WriteFileStart.newBuilder().setPath("dir/blob.bin")
                .setCreateParents(true).setSizeBytes(content.length).setSha256(sha256).setMode(0640)).build());
        for (int off = 0; off < content.length; off += 256 * 1024) {
            int len = Math.min(256 * 1024, content.length - off);
            upload.onNext(WriteFileRequest.newBuilder().setData(ByteString.copyFrom(content, off, len)).build());
        }
        upload.onCompleted();
        var result = written.await(CALL_TIMEOUT);
        assertEquals(Status.Code.OK, result.status().getCode(), result.status().toString());
        assertEquals(sha256, result.messages().getFirst().getSha256());
        assertArrayEquals(content, Files.readAllBytes(agent.workspace.resolve("dir/blob.bin")));

        var stat = blocking().stat(StatRequest.newBuilder().setPath("dir/blob.bin").build()).getInfo();
        assertEquals(FileType.FILE_TYPE_REGULAR, stat.getType());
        assertEquals(content.length, stat.getSizeBytes());
        assertEquals(0640, stat.getMode() & 0777);

        ByteArrayOutputStream back = new ByteArrayOutputStream();
        blocking().readFile(ReadFileRequest.newBuilder().setPath("dir/blob.bin").build())
                .forEachRemaining((ReadFileResponse chunk) -> back.writeBytes(chunk.getData().toByteArray()));
        assertArrayEquals(content, back.toByteArray());
    }

    @Test
    void aWrongHashStoresNothing() throws Exception {
        StreamCollector<WriteFileResponse> written = new StreamCollector<>();
        StreamObserver<WriteFileRequest> upload = async().writeFile(written);
        upload.onNext(WriteFileRequest.newBuilder().setStart(WriteFileStart.newBuilder().setPath("bad.txt")
                .setSizeBytes(5).setSha256("0".repeat(64))).build());
        upload.onNext(WriteFileRequest.newBuilder().setData(ByteString.copyFromUtf8("hello")).build());
        upload.onCompleted();
        var result = written.await(CALL_TIMEOUT);
        assertTrue(result.status().getCode() != Status.Code.OK && result.status().getCode() != Status.Code.INTERNAL,
                "a checksum mismatch is a client-visible, typed error: " + result.status());
        try (var files = Files.list(agent.workspace)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().contains("bad")), "no partial or temporary file");
        }
    }

    @Test
    void readingAMissingFileIsNotFound() {
        var e = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                () -> blocking().readFile(ReadFileRequest.newBuilder().setPath("nope.txt").build()).hasNext());
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
    }

    private static List<ProcessEvent> exec(ExecStart start, List<ProcessInput> input) throws Exception {
        return AgentCalls.exec(async(), start, input, CALL_TIMEOUT);
    }

    private static String output(List<ProcessEvent> events, OutputStream stream) {
        return AgentCalls.output(events, stream);
    }
}
