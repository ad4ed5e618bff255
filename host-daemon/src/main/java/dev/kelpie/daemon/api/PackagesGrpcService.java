package dev.kelpie.daemon.api;

import dev.kelpie.daemon.errors.InvalidRequestException;
import dev.kelpie.daemon.errors.ErrorKind;
import com.google.protobuf.ByteString;
import dev.kelpie.api.v1.CopyPackageRequest;
import dev.kelpie.api.v1.CopyPackageResponse;
import dev.kelpie.api.v1.DeletePackageRequest;
import dev.kelpie.api.v1.DeletePackageResponse;
import dev.kelpie.api.v1.ExportPackageRequest;
import dev.kelpie.api.v1.ExportPackageResponse;
import dev.kelpie.api.v1.ImportPackageRequest;
import dev.kelpie.api.v1.ImportPackageResponse;
import dev.kelpie.api.v1.InspectPackageRequest;
import dev.kelpie.api.v1.InspectPackageResponse;
import dev.kelpie.api.v1.ListPackagesRequest;
import dev.kelpie.api.v1.ListPackagesResponse;
import dev.kelpie.api.v1.PackagesGrpc;
import dev.kelpie.daemon.teleport.PackageService;
import dev.kelpie.teleport.pkg.PackageManifest;
import dev.kelpie.teleport.pkg.PackageReader;
import dev.kelpie.teleport.store.PackageStore;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.Executor;

/** gRPC adapter for {@code kelpie.v1.Packages}: teleport packages at rest, and moving them between stores and hosts. */
public class PackagesGrpcService extends PackagesGrpc.PackagesImplBase {

    private final PackageService packages;
    private final Executor transfers;
    private final Duration uploadIdle;

    public PackagesGrpcService(PackageService packages, Duration uploadIdle) {
        this(packages, task -> Thread.ofVirtual().name("package-transfer").start(task), uploadIdle);
    }

    /**
     * @param transfers runs each Export and Import on a thread of its own: gRPC delivers a call's on-ready, message
     *     and cancel callbacks only once the service method has returned, and a transfer waits for them
     * @param uploadIdle how long an Import may wait for its client's next message
     */
    PackagesGrpcService(PackageService packages, Executor transfers, Duration uploadIdle) {
        this.packages = packages;
        this.transfers = transfers;
        this.uploadIdle = uploadIdle;
    }

    @Override
    public void list(ListPackagesRequest request, StreamObserver<ListPackagesResponse> out) {
        UnaryCalls.respond(out, () -> {
            PackageStore store = packages.store(request.getStore());
            ListPackagesResponse.Builder response = ListPackagesResponse.newBuilder();
            packages.list(store).forEach(m -> response.addPackages(PackageMapper.toProto(m, store.name())));
            return response.build();
        });
    }

    @Override
    public void inspect(InspectPackageRequest request, StreamObserver<InspectPackageResponse> out) {
        UnaryCalls.respond(out, () -> {
            PackageStore store = packages.store(request.getStore());
            PackageReader.StoredManifest stored = packages.inspect(request.getId(), store);
            return InspectPackageResponse.newBuilder()
                    .setPackage(PackageMapper.toProto(stored.manifest(), store.name()))
                    .setManifestJson(new String(stored.bytes(), StandardCharsets.UTF_8)).build();
        });
    }

    @Override
    public void delete(DeletePackageRequest request, StreamObserver<DeletePackageResponse> out) {
        UnaryCalls.respond(out, () -> {
            packages.delete(request.getId(), packages.store(request.getStore()));
            return DeletePackageResponse.getDefaultInstance();
        });
    }

    @Override
    public void copy(CopyPackageRequest request, StreamObserver<CopyPackageResponse> out) {
        UnaryCalls.respond(out, () -> {
            if (request.getToStore().isEmpty()) {
                throw new InvalidRequestException("to_store is required");
            }
            PackageStore to = packages.store(request.getToStore());
            PackageManifest copied = packages.copy(request.getId(), packages.store(request.getFromStore()), to);
            return CopyPackageResponse.newBuilder().setPackage(PackageMapper.toProto(copied, to.name())).build();
        });
    }

    @Override
    public void export(ExportPackageRequest request, StreamObserver<ExportPackageResponse> out) {
        var call = (ServerCallStreamObserver<ExportPackageResponse>) out;
        GrpcChunkOutput chunks = new GrpcChunkOutput(call,
                data -> ExportPackageResponse.newBuilder().setData(ByteString.copyFrom(data)).build());
        transfers.execute(() -> {
            try (chunks) {
                packages.export(request.getId(), packages.store(request.getStore()), chunks);
            } catch (Exception e) {
                if (!call.isCancelled()) {
                    out.onError(GrpcErrors.toStatus(e));
                }
                return;
            }
            out.onCompleted();
        });
    }

    @Override
    public StreamObserver<ImportPackageRequest> import_(StreamObserver<ImportPackageResponse> out) {
        var call = (ServerCallStreamObserver<ImportPackageResponse>) out;
        GrpcChunkInput input = new GrpcChunkInput(call, uploadIdle);
        transfers.execute(() -> {
            try {
                PackageStore store = packages.store(input.awaitStart());
                PackageManifest imported = packages.importArchive(input, store);
                out.onNext(ImportPackageResponse.newBuilder()
                        .setPackage(PackageMapper.toProto(imported, store.name())).build());
                out.onCompleted();
            } catch (Exception e) {
                input.abandon();
                if (!call.isCancelled()) {
                    out.onError(GrpcErrors.toStatus(e));
                }
            }
        });
        return new StreamObserver<>() {
            @Override
            public void onNext(ImportPackageRequest message) {
                switch (message.getKindCase()) {
                    case START -> input.start(message.getStart().getStore());
                    case DATA -> input.offer(message.getData());
                    default -> input.fail(GrpcErrors.of(ErrorKind.BAD_REQUEST, "an Import message must carry start or data"));
                }
            }

            @Override
            public void onError(Throwable t) {
                input.fail(t);
            }

            @Override
            public void onCompleted() {
                input.end();
            }
        };
    }
}
