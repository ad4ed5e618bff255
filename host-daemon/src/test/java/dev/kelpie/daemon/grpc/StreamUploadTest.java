package dev.kelpie.daemon.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.protobuf.ByteString;
import dev.kelpie.api.v1.ImportPackageRequest;
import dev.kelpie.api.v1.ImportPackageResponse;
import dev.kelpie.api.v1.ImportPackageStart;
import dev.kelpie.api.v1.PackageSummary;
import dev.kelpie.api.v1.PackagesGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * An upload against a receiver that asks for each message itself (an in-process transport is ready exactly while the
 * receiver has asked for more): the sender waits for it, and its answer or failure ends the wait.
 */
class StreamUploadTest {

    private static final long DEADLINE_MS = 30_000;
    private static final int DATA_MESSAGES = 3;

    private final BlockingQueue<ImportPackageRequest> received = new LinkedBlockingQueue<>();
    private final CompletableFuture<ServerCallStreamObserver<ImportPackageResponse>> receiver =
            new CompletableFuture<>();
    private Server server;
    private ManagedChannel channel;

    @BeforeEach
    void start() throws Exception {
        String name = "upload-" + System.identityHashCode(this);
        server = InProcessServerBuilder.forName(name).addService(new PackagesGrpc.PackagesImplBase() {
            @Override
            public StreamObserver<ImportPackageRequest> import_(StreamObserver<ImportPackageResponse> out) {
                var call = (ServerCallStreamObserver<ImportPackageResponse>) out;
                call.disableAutoRequest();
                receiver.complete(call);
                return new StreamObserver<>() {
                    @Override
                    public void onNext(ImportPackageRequest message) {
                        received.add(message);
                    }

                    @Override
                    public void onError(Throwable t) {}

                    @Override
                    public void onCompleted() {}
                };
            }
        }).build().start();
        channel = InProcessChannelBuilder.forName(name).build();
    }

    @AfterEach
    void stop() throws InterruptedException {
        channel.shutdownNow().awaitTermination(DEADLINE_MS, TimeUnit.MILLISECONDS);
        server.shutdownNow().awaitTermination(DEADLINE_MS, TimeUnit.MILLISECONDS);
    }

    @Test
    void theSenderWaitsUntilTheReceiverAsksThenEverythingArrivesInOrderAndTheAnswerEndsIt() throws Exception {
        StreamUpload<ImportPackageRequest, ImportPackageResponse> upload = new StreamUpload<>("the test receiver");
        Sending sending = startHeldByTheReceiver(upload);
        assertNull(received.peek(), "nothing beyond what the receiver asked for");

        ServerCallStreamObserver<ImportPackageResponse> call = sending.receiver();
        call.request(DATA_MESSAGES);
        for (int i = 0; i < DATA_MESSAGES; i++) {
            assertEquals("chunk " + i, next().getData().toStringUtf8());
        }
        sending.awaitEnd();
        call.onNext(ImportPackageResponse.newBuilder().setPackage(PackageSummary.newBuilder().setId("pkg-1")).build());
        call.onCompleted();
        assertEquals("pkg-1", upload.answer().getPackage().getId());
    }

    @Test
    void theReceiversFailureLetsAWaitingSenderGoAndIsWhatTheAnswerThrows() throws Exception {
        StreamUpload<ImportPackageRequest, ImportPackageResponse> upload = new StreamUpload<>("the test receiver");
        Sending sending = startHeldByTheReceiver(upload);

        sending.receiver().onError(Status.DATA_LOSS.withDescription("blob damaged").asRuntimeException());

        sending.awaitEnd();
        assertTrue(upload.answered());
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, upload::answer);
        assertEquals(Status.Code.DATA_LOSS, e.getStatus().getCode());
        assertEquals("blob damaged", e.getStatus().getDescription());
    }

    private ImportPackageRequest next() throws InterruptedException {
        ImportPackageRequest message = received.poll(DEADLINE_MS, TimeUnit.MILLISECONDS);
        if (message == null) {
            fail("the receiver got no message within " + DEADLINE_MS + " ms");
        }
        return message;
    }

    /**
     * Starts the call, lets the receiver ask for one message, and sends the start and {@value #DATA_MESSAGES} data
     * messages from a thread of its own; returns once the start has arrived and the sender waits for more.
     */
    private Sending startHeldByTheReceiver(StreamUpload<ImportPackageRequest, ImportPackageResponse> upload)
            throws Exception {
        PackagesGrpc.newStub(channel).withDeadlineAfter(DEADLINE_MS, TimeUnit.MILLISECONDS).import_(upload);
        ServerCallStreamObserver<ImportPackageResponse> call = receiver.get(DEADLINE_MS, TimeUnit.MILLISECONDS);
        call.request(1);
        CompletableFuture<Void> done = new CompletableFuture<>();
        Thread thread = Thread.ofPlatform().name("sender").start(() -> {
            try {
                upload.send(ImportPackageRequest.newBuilder().setStart(ImportPackageStart.getDefaultInstance()).build());
                for (int i = 0; i < DATA_MESSAGES && !upload.answered(); i++) {
                    upload.send(ImportPackageRequest.newBuilder().setData(ByteString.copyFromUtf8("chunk " + i)).build());
                }
                upload.finish();
                done.complete(null);
            } catch (Throwable t) {
                done.completeExceptionally(t);
            }
        });
        Sending sending = new Sending(call, thread, done);
        assertTrue(next().hasStart());
        sending.awaitHeld();
        return sending;
    }

    private record Sending(ServerCallStreamObserver<ImportPackageResponse> receiver, Thread thread,
            CompletableFuture<Void> done) {

        /** Returns once the sender waits for the transport (the only timed wait on its way); fails if it ended. */
        void awaitHeld() throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(DEADLINE_MS);
            while (thread.getState() != Thread.State.TIMED_WAITING) {
                if (done.isDone()) {
                    fail("the sender sent everything without waiting for the receiver");
                }
                if (System.nanoTime() > deadline) {
                    fail("the sender did not come to wait within " + DEADLINE_MS + " ms; it is " + thread.getState());
                }
                Thread.sleep(1);
            }
        }

        void awaitEnd() throws Exception {
            done.get(DEADLINE_MS, TimeUnit.MILLISECONDS);
        }
    }
}
