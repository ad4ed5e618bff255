package dev.kelpie.daemon.teleport;

import com.google.protobuf.ByteString;
import dev.kelpie.agent.v1.AgentGrpc;
import dev.kelpie.agent.v1.ExportWorkspaceRequest;
import dev.kelpie.agent.v1.ExportWorkspaceResponse;
import dev.kelpie.agent.v1.ImportWorkspaceRequest;
import dev.kelpie.agent.v1.ImportWorkspaceResponse;
import dev.kelpie.agent.v1.ImportWorkspaceStart;
import dev.kelpie.daemon.grpc.StreamUpload;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.concurrent.TimeUnit;

/** Moves a guest's /workspace as a tar stream through the agent's ExportWorkspace and ImportWorkspace calls. */
final class AgentWorkspace {

    /**
     * A workspace of gigabytes over virtio-serial under TCG takes minutes; past this something is wrong. The deadline of
     * both calls, so an import's answer is waited for no longer either.
     */
    static final long TRANSFER_TIMEOUT_MS = 30 * 60 * 1000;
    private static final int CHUNK_BYTES = 64 * 1024;

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

    /** Sends a tar file into the workspace, replacing what is there, as fast as the transport takes it. */
    static ImportWorkspaceResponse importTar(ManagedChannel agent, Path tar) throws IOException, InterruptedException {
        StreamUpload<ImportWorkspaceRequest, ImportWorkspaceResponse> upload = new StreamUpload<>("the agent");
        AgentGrpc.newStub(agent).withDeadlineAfter(TRANSFER_TIMEOUT_MS, TimeUnit.MILLISECONDS).importWorkspace(upload);
        try (InputStream in = Files.newInputStream(tar)) {
            upload.send(ImportWorkspaceRequest.newBuilder()
                    .setStart(ImportWorkspaceStart.newBuilder().setReplace(true)).build());
            byte[] buffer = new byte[CHUNK_BYTES];
            int n;
            while (!upload.answered() && (n = in.read(buffer)) > 0) {
                upload.send(ImportWorkspaceRequest.newBuilder().setData(ByteString.copyFrom(buffer, 0, n)).build());
            }
            upload.finish();
        } catch (IOException | RuntimeException | InterruptedException e) {
            upload.cancel(e);
            throw e;
        }
        return upload.answer();
    }
}
