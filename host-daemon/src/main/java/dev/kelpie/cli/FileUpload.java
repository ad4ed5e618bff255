package dev.kelpie.cli;

import com.google.protobuf.ByteString;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.api.v1.WriteFileRequest;
import dev.kelpie.api.v1.WriteFileResponse;
import dev.kelpie.api.v1.WriteFileStart;
import dev.kelpie.daemon.grpc.StreamUpload;
import java.io.IOException;
import java.io.InputStream;

/**
 * A file sent into a sandbox through {@code Sandboxes.WriteFile}: chunks go out as fast as the daemon takes them and
 * no faster, so a large file is never held in memory, and a refusal stops the sending at once.
 */
public final class FileUpload {

    private FileUpload() {}

    /**
     * @return the daemon's answer
     * @throws io.grpc.StatusRuntimeException with the daemon's status when it refused the file
     */
    public static WriteFileResponse send(SandboxesGrpc.SandboxesStub sandboxes, WriteFileStart start, InputStream data,
            int chunkBytes) throws IOException, InterruptedException {
        StreamUpload<WriteFileRequest, WriteFileResponse> upload = new StreamUpload<>("the daemon");
        sandboxes.writeFile(upload);
        try {
            upload.send(WriteFileRequest.newBuilder().setStart(start).build());
            byte[] buffer = new byte[chunkBytes];
            int n;
            while (!upload.answered() && (n = data.readNBytes(buffer, 0, buffer.length)) > 0) {
                upload.send(WriteFileRequest.newBuilder().setData(ByteString.copyFrom(buffer, 0, n)).build());
            }
        } catch (IOException | RuntimeException | InterruptedException e) {
            upload.cancel(e);
            throw e;
        }
        upload.finish();
        return upload.answer();
    }
}
