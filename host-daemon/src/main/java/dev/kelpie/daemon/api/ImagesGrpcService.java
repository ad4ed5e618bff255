package dev.kelpie.daemon.api;

import dev.kelpie.api.v1.Image;
import dev.kelpie.api.v1.ImageFile;
import dev.kelpie.api.v1.ImagesGrpc;
import dev.kelpie.api.v1.InspectImageRequest;
import dev.kelpie.api.v1.InspectImageResponse;
import dev.kelpie.api.v1.ListImagesRequest;
import dev.kelpie.api.v1.ListImagesResponse;
import dev.kelpie.api.v1.OciImageInfo;
import dev.kelpie.api.v1.PruneImagesRequest;
import dev.kelpie.api.v1.PruneImagesResponse;
import dev.kelpie.api.v1.PullImageRequest;
import dev.kelpie.api.v1.PullImageResponse;
import dev.kelpie.api.v1.PullProgress;
import dev.kelpie.api.v1.RemoveImageRequest;
import dev.kelpie.api.v1.RemoveImageResponse;
import dev.kelpie.api.v1.VerifyImageRequest;
import dev.kelpie.api.v1.VerifyImageResponse;
import dev.kelpie.daemon.hypervisor.probe.HostPlatform;
import dev.kelpie.daemon.images.BootImage;
import dev.kelpie.daemon.images.ImageCatalog;
import dev.kelpie.daemon.images.ImageNotFoundException;
import dev.kelpie.daemon.errors.InvalidRequestException;
import dev.kelpie.daemon.images.IncompatibleImageException;
import dev.kelpie.daemon.images.cache.CachedImage;
import dev.kelpie.daemon.images.ImageInUseException;
import dev.kelpie.daemon.images.oci.OciArch;
import dev.kelpie.daemon.images.oci.OciImage;
import dev.kelpie.daemon.images.oci.OciImageConfig;
import dev.kelpie.daemon.images.oci.OciImageStore;
import dev.kelpie.daemon.images.oci.OciPuller;
import dev.kelpie.daemon.images.cache.VerifyResult;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/** gRPC adapter for {@code kelpie.v1.Images}: the cache, pulls into it, and local image directories. */
public class ImagesGrpcService extends ImagesGrpc.ImagesImplBase {

    private final ImageCatalog catalog;
    private final SandboxManager sandboxes;
    private final Optional<OciImageStore> ociStore;
    private final Optional<OciPuller> ociPuller;
    private final String hostArch = HostPlatform.current().arch();

    /** Without OCI images: requests naming one fail with FAILED_PRECONDITION. */
    public ImagesGrpcService(ImageCatalog catalog, SandboxManager sandboxes) {
        this(catalog, sandboxes, null, null);
    }

    public ImagesGrpcService(ImageCatalog catalog, SandboxManager sandboxes, OciImageStore ociStore,
            OciPuller ociPuller) {
        this.catalog = catalog;
        this.sandboxes = sandboxes;
        this.ociStore = Optional.ofNullable(ociStore);
        this.ociPuller = Optional.ofNullable(ociPuller);
    }

    @Override
    public void list(ListImagesRequest request, StreamObserver<ListImagesResponse> out) {
        respond(out, () -> {
            Map<String, Integer> usage = sandboxes.imageUsage();
            ListImagesResponse.Builder response = ListImagesResponse.newBuilder();
            List<CachedImage> cached = catalog.cache().list();
            cached.forEach(i -> response.addImages(toProto(i, usage)));
            for (BootImage local : catalog.localImages().list()) {
                if (cached.stream().noneMatch(c -> c.version().equals(local.version()) && c.arch().equals(local.arch()))) {
                    response.addImages(toProto(local, usage));
                }
            }
            ociStore.ifPresent(store -> store.list().forEach(i -> response.addImages(toProto(i))));
            return response.build();
        });
    }

    @Override
    public void pull(PullImageRequest request, StreamObserver<PullImageResponse> out) {
        var call = (ServerCallStreamObserver<PullImageResponse>) out;
        Object writeLock = new Object();
        Consumer<dev.kelpie.daemon.images.pull.PullProgress> progress = p -> {
            synchronized (writeLock) {
                // Progress is advisory: a client that reads slowly misses some, never blocks the download.
                if (!call.isCancelled() && call.isReady()) {
                    out.onNext(PullImageResponse.newBuilder().setProgress(PullProgress.newBuilder().setPhase(p.phase())
                            .setFile(p.file()).setReceivedBytes(p.receivedBytes()).setTotalBytes(p.totalBytes())
                            .setRateBytesPerSecond(p.rateBytesPerSecond())).build());
                }
            }
        };
        try {
            CompletableFuture<Image> pulled;
            if (!request.getOciImage().isEmpty()) {
                if (!request.getVersion().isEmpty() || !request.getArch().isEmpty() || !request.getSource().isEmpty()) {
                    throw new InvalidRequestException("oci_image is pulled from its registry for this host's "
                            + "platform; leave version, arch and source empty");
                }
                pulled = oci(ociPuller).pull(request.getOciImage(), progress).thenApply(ImagesGrpcService::toProto);
            } else {
                boolean anyArch = !request.getArch().isEmpty() && !request.getArch().equals(hostArch);
                pulled = catalog.puller().pull(request.getVersion(), arch(request.getArch()), request.getSource(),
                        anyArch, progress).thenApply(image -> toProto(image, sandboxes.imageUsage()));
            }
            pulled.whenComplete((image, failure) -> {
                synchronized (writeLock) {
                    if (call.isCancelled()) {
                        return;
                    }
                    if (failure != null) {
                        out.onError(GrpcErrors.toStatus(failure));
                    } else {
                        out.onNext(PullImageResponse.newBuilder().setImage(image).build());
                        out.onCompleted();
                    }
                }
            });
        } catch (RuntimeException e) {
            out.onError(GrpcErrors.toStatus(e));
        }
    }

    private static <T> T oci(Optional<T> part) {
        return part.orElseThrow(() -> new IncompatibleImageException("this daemon does not serve OCI images"));
    }

    @Override
    public void inspect(InspectImageRequest request, StreamObserver<InspectImageResponse> out) {
        if (!request.getOciImage().isEmpty()) {
            respond(out, () -> InspectImageResponse.newBuilder()
                    .setImage(toProto(oci(ociStore).resolve(request.getOciImage()))).build());
            return;
        }
        respond(out, () -> {
            String arch = arch(request.getArch());
            Map<String, Integer> usage = sandboxes.imageUsage();
            var cached = catalog.cache().find(request.getVersion(), arch);
            if (cached.isPresent()) {
                return InspectImageResponse.newBuilder().setImage(toProto(cached.get(), usage)).build();
            }
            return catalog.localImages().list().stream()
                    .filter(i -> i.version().equals(request.getVersion()) && i.arch().equals(arch)).findFirst()
                    .map(i -> InspectImageResponse.newBuilder().setImage(toProto(i, usage)).build())
                    .orElseThrow(() -> new ImageNotFoundException("image " + request.getVersion() + "/" + arch
                            + " is neither cached nor in a local image directory"));
        });
    }

    @Override
    public void remove(RemoveImageRequest request, StreamObserver<RemoveImageResponse> out) {
        if (!request.getOciImage().isEmpty()) {
            respond(out, () -> {
                OciImageStore store = oci(ociStore);
                OciImage image = store.resolve(request.getOciImage());
                // One step with a Create's lease on it: a sandbox being made from the image keeps it too.
                return RemoveImageResponse.newBuilder().setFreedBytes(store.removeUnlessUsed(image,
                        () -> sandboxes.ociImageUsers(image.manifestDigest()))).build();
            });
            return;
        }
        respond(out, () -> RemoveImageResponse.newBuilder().setFreedBytes(catalog.cache().remove(request.getVersion(),
                arch(request.getArch()), sandboxes.imageUsage().keySet())).build());
    }

    @Override
    public void verify(VerifyImageRequest request, StreamObserver<VerifyImageResponse> out) {
        respond(out, () -> {
            VerifyResult result = catalog.cache().verify(request.getVersion(), arch(request.getArch()));
            return VerifyImageResponse.newBuilder().setFilesChecked(result.filesChecked())
                    .setHashedBytes(result.hashedBytes()).build();
        });
    }

    @Override
    public void prune(PruneImagesRequest request, StreamObserver<PruneImagesResponse> out) {
        respond(out, () -> {
            var result = catalog.cache().prune(request.getKeepNewest(), sandboxes.imageUsage().keySet());
            PruneImagesResponse.Builder response = PruneImagesResponse.newBuilder().addAllRemoved(result.removed())
                    .setFreedBytes(result.freedBytes());
            if (request.getOciUnused()) {
                pruneOci(response);
            }
            return response.build();
        });
    }

    /** Removes the OCI images no sandbox uses; their layers go with the last image that references them. */
    private void pruneOci(PruneImagesResponse.Builder response) {
        OciImageStore store = oci(ociStore);
        for (OciImage image : store.list()) {
            try {
                response.setFreedBytes(response.getFreedBytes() + store.removeUnlessUsed(image,
                        () -> sandboxes.ociImageUsers(image.manifestDigest())))
                        .addRemoved(image.repository() + "@" + image.manifestDigest());
            } catch (ImageInUseException | ImageNotFoundException used) {
                // in use (or being used right now), or removed meanwhile: not this prune's
            }
        }
    }

    private String arch(String requested) {
        return requested.isEmpty() ? hostArch : requested;
    }

    private static <T> void respond(StreamObserver<T> out, java.util.function.Supplier<T> handler) {
        T response;
        try {
            response = handler.get();
        } catch (RuntimeException e) {
            out.onError(GrpcErrors.toStatus(e));
            return;
        }
        out.onNext(response);
        out.onCompleted();
    }

    private static Image toProto(CachedImage image, Map<String, Integer> usage) {
        Image.Builder b = base(image.boot(), usage).setFlavor(image.metadata().flavor()).setSource(image.source())
                .setCachedAtUnixMs(image.cachedAtUnixMs()).setSizeBytes(image.sizeBytes());
        image.files().forEach(f -> b.addFiles(ImageFile.newBuilder().setName(f.name()).setSizeBytes(f.sizeBytes())
                .setSha256(f.sha256())));
        return b.build();
    }

    private static Image toProto(OciImage image) {
        OciImageConfig c = image.config();
        Image.Builder b = Image.newBuilder().setArch(OciArch.kelpieArch(c.platform().architecture()))
                .setSource(image.repository()).setCachedAtUnixMs(image.cachedAtUnixMs())
                .setSizeBytes(image.layerBytes() + image.configBlob().sizeBytes() + image.manifestSizeBytes())
                .setOci(OciImageInfo.newBuilder().setManifestDigest(image.manifestDigest())
                        .setRepository(image.repository()).addAllReferences(image.references()).addAllEnv(c.env())
                        .setWorkingDir(c.workingDir()).setUser(c.user()).addAllEntrypoint(c.entrypoint())
                        .addAllCmd(c.cmd()).setPlatform(c.platform().toString()).setLayerBytes(image.layerBytes()));
        b.addFiles(ImageFile.newBuilder().setName("manifest").setSizeBytes(image.manifestSizeBytes())
                .setSha256(image.manifestSha256()));
        b.addFiles(ImageFile.newBuilder().setName("config").setSizeBytes(image.configBlob().sizeBytes())
                .setSha256(image.configBlob().sha256()));
        for (int i = 0; i < image.layers().size(); i++) {
            var layer = image.layers().get(i);
            b.addFiles(ImageFile.newBuilder().setName("layer-" + i).setSizeBytes(layer.sizeBytes())
                    .setSha256(layer.sha256()));
        }
        return b.build();
    }

    private static Image toProto(BootImage image, Map<String, Integer> usage) {
        return base(image, usage).setSource("local:" + image.directory()).build();
    }

    private static Image.Builder base(BootImage image, Map<String, Integer> usage) {
        return Image.newBuilder().setVersion(image.version()).setArch(image.arch())
                .setAgentVersion(image.agentVersion()).setAgentProtocolVersion(image.agentProtocolVersion())
                .setInUseCount(usage.getOrDefault(image.version() + "/" + image.arch(), 0));
    }
}
