package dev.kelpie.cli;

import com.google.protobuf.ByteString;
import dev.kelpie.api.v1.ImportPackageRequest;
import dev.kelpie.api.v1.ImportPackageResponse;
import dev.kelpie.api.v1.ImportPackageStart;
import dev.kelpie.api.v1.PackageSummary;
import dev.kelpie.api.v1.PackagesGrpc;
import dev.kelpie.daemon.grpc.StreamUpload;
import io.grpc.ManagedChannel;
import java.util.Optional;

/** Sends a package archive to a daemon's {@code Packages.Import}, one chunk at a time as its transport takes them. */
final class PackageUpload {

    private PackageUpload() {}

    /** The archive's chunks in order; empty at the end. */
    @FunctionalInterface
    interface Chunks {
        Optional<ByteString> next() throws Exception;
    }

    static PackageSummary upload(ManagedChannel to, String store, Chunks chunks) throws Exception {
        StreamUpload<ImportPackageRequest, ImportPackageResponse> upload = new StreamUpload<>("the receiving daemon");
        PackagesGrpc.newStub(to).import_(upload);
        try {
            upload.send(ImportPackageRequest.newBuilder().setStart(ImportPackageStart.newBuilder().setStore(store))
                    .build());
            Optional<ByteString> chunk;
            // The next chunk is read only once the last one is sent, so memory stays flat however large the archive.
            while (!upload.answered() && (chunk = chunks.next()).isPresent()) {
                upload.send(ImportPackageRequest.newBuilder().setData(chunk.get()).build());
            }
            upload.finish();
        } catch (Exception e) {
            upload.cancel(e);
            throw e;
        }
        return upload.answer().getPackage();
    }
}
