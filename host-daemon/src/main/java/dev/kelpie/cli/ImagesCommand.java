package dev.kelpie.cli;

import dev.kelpie.api.v1.Image;
import dev.kelpie.api.v1.ImagesGrpc;
import dev.kelpie.api.v1.InspectImageRequest;
import dev.kelpie.api.v1.ListImagesRequest;
import dev.kelpie.api.v1.PruneImagesRequest;
import dev.kelpie.api.v1.PullImageRequest;
import dev.kelpie.api.v1.PullImageResponse;
import dev.kelpie.api.v1.RemoveImageRequest;
import dev.kelpie.api.v1.VerifyImageRequest;
import java.util.Iterator;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code kelpie images ls|pull|inspect|rm|verify|prune}. */
@Command(name = "images", description = "Base images: the daemon's cache and pulls into it.",
        subcommands = {ImagesCommand.Ls.class, ImagesCommand.Pull.class, ImagesCommand.Inspect.class,
                ImagesCommand.Rm.class, ImagesCommand.Verify.class, ImagesCommand.Prune.class})
final class ImagesCommand {

    @ParentCommand
    KelpieCli cli;

    ImagesGrpc.ImagesBlockingStub images() {
        return ImagesGrpc.newBlockingStub(cli.channel());
    }

    /** Names one image. */
    abstract static class OneImage {
        @ParentCommand
        ImagesCommand parent;

        @Parameters(index = "0", paramLabel = "VERSION", description = "image version")
        String version;

        @Option(names = "--arch", description = "guest architecture (default: the host's)")
        String arch = "";

        @Option(names = "--oci", description = "VERSION is an OCI image: a reference ([registry/]repository[:tag]"
                + "[@sha256:digest]; no registry means docker.io), or for inspect and rm also its sha256:digest")
        boolean oci;

        PullImageRequest.Builder pullRequest() {
            return oci ? PullImageRequest.newBuilder().setOciImage(version)
                    : PullImageRequest.newBuilder().setVersion(version).setArch(arch);
        }

        InspectImageRequest inspectRequest() {
            return oci ? InspectImageRequest.newBuilder().setOciImage(version).build()
                    : InspectImageRequest.newBuilder().setVersion(version).setArch(arch).build();
        }

        RemoveImageRequest removeRequest() {
            return oci ? RemoveImageRequest.newBuilder().setOciImage(version).build()
                    : RemoveImageRequest.newBuilder().setVersion(version).setArch(arch).build();
        }
    }

    @Command(name = "ls", aliases = "list", description = "List cached images and local image directories.")
    static final class Ls implements Callable<Integer> {
        @ParentCommand
        ImagesCommand parent;

        @Override
        public Integer call() {
            var images = parent.images().list(ListImagesRequest.getDefaultInstance()).getImagesList();
            System.out.printf("%-26s %-8s %-10s %10s %6s  %s%n", "VERSION", "ARCH", "AGENT", "SIZE", "IN USE", "SOURCE");
            for (Image i : images) {
                // An OCI image has no version: its name is what it was pulled as, its source its repository.
                boolean oci = i.hasOci();
                String name = !oci ? i.getVersion() : i.getOci().getReferencesCount() > 0
                        ? i.getOci().getReferences(0) : i.getOci().getManifestDigest();
                System.out.printf("%-26s %-8s %-10s %10s %6d  %s%n", name, i.getArch(),
                        oci ? "-" : i.getAgentVersion(), i.getSizeBytes() == 0 ? "-" : ProgressBar.bytes(i.getSizeBytes()),
                        i.getInUseCount(), oci ? "oci " + i.getOci().getManifestDigest() : i.getSource());
            }
            return 0;
        }
    }

    @Command(name = "pull", aliases = "download", description = "Download, verify and cache an image version.")
    static final class Pull extends OneImage implements Callable<Integer> {
        @Option(names = "--source", description = "only this configured source (default: each in order)")
        String source = "";

        @Option(names = {"-q", "--quiet"}, description = "no progress bar")
        boolean quiet;

        @Override
        public Integer call() {
            Iterator<PullImageResponse> responses = parent.images().pull(pullRequest().setSource(source).build());
            ProgressBar bar = new ProgressBar(System.err, !quiet && System.console() != null);
            while (responses.hasNext()) {
                PullImageResponse r = responses.next();
                if (r.hasProgress()) {
                    bar.update(r.getProgress());
                } else if (r.hasImage()) {
                    bar.finish();
                    Image i = r.getImage();
                    System.out.printf("%s/%s cached (%s, from %s)%n", i.hasOci() ? i.getOci().getManifestDigest()
                            : i.getVersion(), i.getArch(), ProgressBar.bytes(i.getSizeBytes()), i.getSource());
                }
            }
            return 0;
        }
    }

    @Command(name = "inspect", description = "Describe an image: its files, hashes and origin.")
    static final class Inspect extends OneImage implements Callable<Integer> {
        @Override
        public Integer call() throws Exception {
            Image i = parent.images().inspect(inspectRequest()).getImage();
            System.out.println(com.google.protobuf.util.JsonFormat.printer().print(i));
            return 0;
        }
    }

    @Command(name = "rm", aliases = "remove", description = "Remove a cached image no sandbox uses.")
    static final class Rm extends OneImage implements Callable<Integer> {
        @Override
        public Integer call() {
            long freed = parent.images().remove(removeRequest()).getFreedBytes();
            System.out.printf("removed %s (%s freed)%n", version, ProgressBar.bytes(freed));
            return 0;
        }
    }

    @Command(name = "verify", description = "Re-hash every file of a cached image.")
    static final class Verify extends OneImage implements Callable<Integer> {
        @Override
        public Integer call() {
            var r = parent.images().verify(VerifyImageRequest.newBuilder().setVersion(version).setArch(arch).build());
            System.out.printf("%s intact: %d files, %s hashed%n", version, r.getFilesChecked(),
                    ProgressBar.bytes(r.getHashedBytes()));
            return 0;
        }
    }

    @Command(name = "prune", aliases = "gc", description = "Remove all but the newest versions; never one in use.")
    static final class Prune implements Callable<Integer> {
        @ParentCommand
        ImagesCommand parent;

        @Option(names = "--keep", description = "newest versions to keep per arch (default: ${DEFAULT-VALUE})")
        int keep = 2;

        @Option(names = "--oci", description = "also remove every OCI image no sandbox uses")
        boolean oci;

        @Override
        public Integer call() {
            var r = parent.images().prune(PruneImagesRequest.newBuilder().setKeepNewest(keep).setOciUnused(oci).build());
            r.getRemovedList().forEach(k -> System.out.println("removed " + k));
            System.out.printf("%d removed, %s freed%n", r.getRemovedCount(), ProgressBar.bytes(r.getFreedBytes()));
            return 0;
        }
    }
}
