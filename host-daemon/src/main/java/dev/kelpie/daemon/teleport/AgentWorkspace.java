package dev.kelpie.daemon.teleport;

import com.google.protobuf.ByteString;
import dev.kelpie.agent.v1.AgentGrpc;
import dev.kelpie.agent.v1.ExportWorkspaceRequest;
import dev.kelpie.agent.v1.ExportWorkspaceResponse;
import dev.kelpie.agent.v1.ImportWorkspaceRequest;
import dev.kelpie.agent.v1.ImportWorkspaceResponse;
import dev.kelpie.agent.v1.ImportWorkspaceStart;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Moves a guest's /workspace as a tar stream through the agent's ExportWorkspace and ImportWorkspace calls. */
final class AgentWorkspace {

    /** A workspace of gigabytes over virtio-serial under TCG takes minutes; past this something is wrong. */
    static final long TRANSFER_TIMEOUT_MS = 30 * 60 * 1000;
    private static final int CHUNK_BYTES = 64 * 1024;
    private static final long READY_RECHECK_MS = 1_000;

    private AgentWorkspace() {}

    /** Streams the workspace tar into {@code out}. */
    static void export(ManagedChannel agent, OutputStream out) throws IOException {
        Context.CancellableContext call = Context.current().withCancellation();
        Context previous = call.attach();
        try {
            Iterator<ExportWorkspaceResponse> chunks = AgentGrpc.newBlockingStub(agent)
                    .withDeadlineAfter(TRANSFER_TIMEOUT_MS, TimeUnit.MILLISECONDS)
                    .exportWorkspace(ExportWorkspaceRequest.getDefaultInstance());
            while (chunks.hasNext()) {
                chunks.next().getData().writeTo(out);
            }
        } finally {
            call.detach(previous);
            // Ends the call at the agent if we stopped reading early (a failed write here).
            call.cancel(null);
        }
    }

    /** Sends a tar file into the workspace, replacing what is there; waits for the transport between chunks. */
    static ImportWorkspaceResponse importTar(ManagedChannel agent, Path tar) throws IOException, InterruptedException {
        CompletableFuture<ImportWorkspaceResponse> result = new CompletableFuture<>();
        Object ready = new Object();
        CompletableFuture<ClientCallStreamObserver<ImportWorkspaceRequest>> call = new CompletableFuture<>();
        AgentGrpc.newStub(agent).withDeadlineAfter(TRANSFER_TIMEOUT_MS, TimeUnit.MILLISECONDS)
                .importWorkspace(new ClientResponseObserver<ImportWorkspaceRequest, ImportWorkspaceResponse>() {
                    @Override
                    public void beforeStart(ClientCallStreamObserver<ImportWorkspaceRequest> requests) {
                        requests.setOnReadyHandler(() -> {
                            synchronized (ready) {
                                ready.notifyAll();
                            }
                        });
                        call.complete(requests);
                    }

                    @Override
                    public void onNext(ImportWorkspaceResponse value) {
                        result.complete(value);
                    }

                    @Override
                    public void onError(Throwable t) {
                        result.completeExceptionally(t);
                        synchronized (ready) {
                            ready.notifyAll();
                        }
                    }

                    @Override
                    public void onCompleted() {
                        result.completeExceptionally(new IOException("the agent ended the import without an answer"));
                    }
                });
        ClientCallStreamObserver<ImportWorkspaceRequest> requests = call.join();
        try (InputStream in = Files.newInputStream(tar)) {
            requests.onNext(ImportWorkspaceRequest.newBuilder()
                    .setStart(ImportWorkspaceStart.newBuilder().setReplace(true)).build());
            byte[] buffer = new byte[CHUNK_BYTES];
            int n;
            while ((n = in.read(buffer)) > 0 && !result.isDone()) {
                synchronized (ready) {
                    // The ready handler wakes us; the timed wait only guards against a missed wake-up.
                    while (!requests.isReady() && !result.isDone()) {
                        ready.wait(READY_RECHECK_MS);
                    }
                }
                requests.onNext(ImportWorkspaceRequest.newBuilder().setData(ByteString.copyFrom(buffer, 0, n)).build());
            }
            requests.onCompleted();
        } catch (IOException | RuntimeException | InterruptedException e) {
            requests.cancel("import aborted: " + e.getMessage(), e);
            throw e;
        }
        try {
            return result.get(TRANSFER_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new IOException("workspace import failed: " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new IOException("workspace import did not finish within " + TRANSFER_TIMEOUT_MS + " ms");
        }
    }
}
