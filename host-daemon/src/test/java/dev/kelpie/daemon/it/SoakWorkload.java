package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.api.v1.Command;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.ExecResponse;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.daemon.agent.StreamCollector;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The soak's work: sandboxes side by side, each running rounds of an exec that streams output while a file is
 * uploaded, then the file downloaded and compared, then checked and removed by a second exec, then a download and an
 * exec that fail; every sandbox deleted at the end. Counts what it did, for the figures.
 */
final class SoakWorkload {

    static final int FILE_BYTES = 256 * 1024;
    static final int EXEC_OUTPUT_BYTES = 256 * 1024;

    private final SandboxClient client;
    final AtomicLong sandboxesCreated = new AtomicLong();
    final AtomicLong execs = new AtomicLong();
    final AtomicLong bytesUploaded = new AtomicLong();
    final AtomicLong bytesDownloaded = new AtomicLong();
    final AtomicLong execOutputBytes = new AtomicLong();

    SoakWorkload(SandboxClient client) {
        this.client = client;
    }

    /**
     * Runs {@code sandboxes} sandboxes concurrently for {@code rounds} rounds each; each is deleted and replaced by a
     * new one after {@code roundsPerSandbox} rounds, and the last ones deleted at the end.
     */
    void run(int sandboxes, int rounds, int roundsPerSandbox) throws Exception {
        List<CompletableFuture<Void>> running = new ArrayList<>();
        for (int i = 0; i < sandboxes; i++) {
            running.add(CompletableFuture.runAsync(() -> {
                try {
                    for (int done = 0; done < rounds; done += roundsPerSandbox) {
                        oneSandbox(Math.min(roundsPerSandbox, rounds - done));
                    }
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }, runnable -> Thread.ofPlatform().name("soak-sandbox").start(runnable)));
        }
        CompletableFuture.allOf(running.toArray(CompletableFuture[]::new))
                .get(Await.scaled(SandboxClient.CALL_TIMEOUT).toMillis() * (rounds + 2), TimeUnit.MILLISECONDS);
    }

    private void oneSandbox(int rounds) throws Exception {
        String id = client.create(SandboxSpec.getDefaultInstance()).getId();
        sandboxesCreated.incrementAndGet();
        try {
            for (int round = 0; round < rounds; round++) {
                oneRound(id, "/workspace/soak/" + round + ".bin");
            }
        } finally {
            client.sandboxes().delete(DeleteSandboxRequest.newBuilder().setId(id).build());
        }
    }

    private void oneRound(String id, String path) throws Exception {
        byte[] content = new byte[FILE_BYTES];
        ThreadLocalRandom.current().nextBytes(content);
        StreamCollector<ExecResponse> streaming = client.start(id, SandboxesIT.sh("head -c " + EXEC_OUTPUT_BYTES
                + " /dev/zero"));
        execs.incrementAndGet();
        assertEquals(FILE_BYTES, client.upload(id, path, content).getSizeBytes());
        bytesUploaded.addAndGet(FILE_BYTES);
        assertArrayEquals(content, client.download(id, path), "the download returns what was uploaded");
        bytesDownloaded.addAndGet(FILE_BYTES);

        var streamed = streaming.await(Await.scaled(SandboxClient.CALL_TIMEOUT));
        assertEquals(Status.Code.OK, streamed.status().getCode(), streamed.status().toString());
        int output = SandboxesIT.stdout(streamed.messages()).length();
        assertEquals(EXEC_OUTPUT_BYTES, output);
        execOutputBytes.addAndGet(output);

        String sum = client.sh(id, "sha256sum " + path + " && rm " + path);
        execs.incrementAndGet();
        assertEquals(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content)), sum.split(" ")[0]);

        // The failure paths hold resources too: a download of a file that is gone, a program that does not exist.
        var missing = assertThrows(StatusRuntimeException.class, () -> client.download(id, path));
        assertEquals(Status.Code.NOT_FOUND, missing.getStatus().getCode(), missing.getStatus().toString());
        var notStarted = client.start(id, Command.newBuilder().addArgv("/no/such/program").build())
                .await(Await.scaled(SandboxClient.CALL_TIMEOUT)).status();
        execs.incrementAndGet();
        assertEquals(Status.Code.FAILED_PRECONDITION, notStarted.getCode(), notStarted.toString());
        assertTrue(String.valueOf(notStarted.getDescription()).contains("No such file"), notStarted.toString());
    }
}
