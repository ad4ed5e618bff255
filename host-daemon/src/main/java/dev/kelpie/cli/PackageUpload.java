package dev.kelpie.cli;

import com.google.protobuf.ByteString;
import dev.kelpie.api.v1.ImportPackageRequest;
import dev.kelpie.api.v1.ImportPackageResponse;
import dev.kelpie.api.v1.ImportPackageStart;
import dev.kelpie.api.v1.PackageSummary;
import dev.kelpie.api.v1.PackagesGrpc;
import io.grpc.ManagedChannel;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/** Sends a package archive to a daemon's {@code Packages.Import}, one chunk at a time as its transport takes them. */
final class PackageUpload {

    private static final long READY_POLL_MS = 5;

    private PackageUpload() {}

    /** The archive's chunks in order; empty at the end. */
    @FunctionalInterface
    interface Chunks {
        Optional<ByteString> next() throws Exception;
    }

    static PackageSummary upload(ManagedChannel to, String store, Chunks chunks) throws Exception {
        CompletableFuture<ImportPackageResponse> result = new CompletableFuture<>();
        StreamObserver<ImportPackageRequest> upload = PackagesGrpc.newStub(to).import_(new StreamObserver<>() {
            @Override
            public void onNext(ImportPackageResponse value) {
                result.complete(value);
            }

            @Override
            public void onError(Throwable t) {
                result.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
                result.completeExceptionally(new IllegalStateException("the receiving daemon sent no answer"));
            }
        });
        var call = (ClientCallStreamObserver<ImportPackageRequest>) upload;
        upload.onNext(ImportPackageRequest.newBuilder().setStart(ImportPackageStart.newBuilder().setStore(store)).build());
        try {
            Optional<ByteString> chunk;
            while (!result.isDone() && (chunk = chunks.next()).isPresent()) {
                // Hold the next chunk until the receiver's transport takes more, so memory stays flat.
                while (!call.isReady() && !result.isDone()) {
                    Thread.sleep(READY_POLL_MS);
                }
                upload.onNext(ImportPackageRequest.newBuilder().setData(chunk.get()).build());
            }
            upload.onCompleted();
        } catch (Exception e) {
            upload.onError(e);
            throw e;
        }
        try {
            return result.get().getPackage();
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        }
    }
}
