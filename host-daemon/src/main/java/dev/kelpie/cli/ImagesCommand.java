package dev.kelpie.cli;

import dev.kelpie.api.v1.Image;
import dev.kelpie.api.v1.ImagesGrpc;
import dev.kelpie.api.v1.ListImagesRequest;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;

/** {@code kelpie images ls}. */
@Command(name = "images", description = "Base images.", subcommands = ImagesCommand.Ls.class)
final class ImagesCommand {

    @ParentCommand
    KelpieCli cli;

    @Command(name = "ls", description = "List the images the daemon can boot.")
    static final class Ls implements Callable<Integer> {
        @ParentCommand
        ImagesCommand parent;

        @Override
        public Integer call() {
            var images = ImagesGrpc.newBlockingStub(parent.cli.channel()).list(ListImagesRequest.getDefaultInstance())
                    .getImagesList();
            System.out.printf("%-26s %-8s %-10s %6s  %s%n", "VERSION", "ARCH", "AGENT", "IN USE", "SOURCE");
            for (Image i : images) {
                System.out.printf("%-26s %-8s %-10s %6d  %s%n", i.getVersion(), i.getArch(), i.getAgentVersion(),
                        i.getInUseCount(), i.getSource());
            }
            return 0;
        }
    }
}
