package dev.kelpie.daemon.api;

import dev.kelpie.api.v1.Image;
import dev.kelpie.api.v1.ImagesGrpc;
import dev.kelpie.api.v1.ListImagesRequest;
import dev.kelpie.api.v1.ListImagesResponse;
import dev.kelpie.daemon.images.BootImage;
import dev.kelpie.daemon.images.ImageSource;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import dev.kelpie.daemon.sandboxes.SandboxRecord;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import jakarta.inject.Inject;
import java.util.Map;

/**
 * gRPC adapter for {@code kelpie.v1.Images}. Serves {@code List} from the local image directories; pulling,
 * verification and removal arrive with the image cache (until then they answer UNIMPLEMENTED).
 */
@GrpcService
public class ImagesGrpcService extends ImagesGrpc.ImagesImplBase {

    private final ImageSource images;
    private final SandboxManager sandboxes;

    @Inject
    public ImagesGrpcService(ImageSource images, SandboxManager sandboxes) {
        this.images = images;
        this.sandboxes = sandboxes;
    }

    @Override
    public void list(ListImagesRequest request, StreamObserver<ListImagesResponse> out) {
        try {
            var inUse = sandboxes.list(Map.of()).stream().filter(r -> r.state().holdsVm())
                    .map(SandboxRecord::imageVersion).toList();
            ListImagesResponse.Builder response = ListImagesResponse.newBuilder();
            for (BootImage i : images.list()) {
                response.addImages(Image.newBuilder().setVersion(i.version()).setArch(i.arch())
                        .setAgentVersion(i.agentVersion()).setAgentProtocolVersion(i.agentProtocolVersion())
                        .setSource(i.directory().toString())
                        .setInUseCount((int) inUse.stream().filter(i.version()::equals).count()));
            }
            out.onNext(response.build());
            out.onCompleted();
        } catch (RuntimeException e) {
            out.onError(GrpcErrors.toStatus(e));
        }
    }
}
