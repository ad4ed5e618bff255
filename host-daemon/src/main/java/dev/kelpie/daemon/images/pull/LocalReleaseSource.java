package dev.kelpie.daemon.images.pull;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Releases in a local directory: image-build's output ({@code DIR/VERSION/ARCH/}), a release laid out flat
 * ({@code DIR/VERSION/} or {@code DIR/} itself), or the path of an archive with {@code SHA256SUMS} beside it. The
 * files are pulled like any other source's — checked against the signature and copied into the cache — so a local
 * build and a downloaded release become the same thing.
 */
public final class LocalReleaseSource extends NamedSource {

    private final Path path;

    public LocalReleaseSource(String name, Path path, boolean requiresSignature) {
        super(name, requiresSignature);
        this.path = path;
    }

    @Override
    public String location() {
        return "local:" + path;
    }

    @Override
    public Optional<Release> find(String version, String arch) {
        String archive = ReleaseFiles.archive(version, arch);
        List<Path> candidates = Files.isRegularFile(path) ? List.of(path.getParent())
                : List.of(path.resolve(version).resolve(arch), path.resolve(version), path);
        return candidates.stream().filter(dir -> Files.isRegularFile(dir.resolve(archive))).findFirst()
                .map(DirectoryRelease::new);
    }

    private record DirectoryRelease(Path dir) implements Release {

        @Override
        public String location() {
            return "local:" + dir;
        }

        @Override
        public OptionalLong size(String fileName) {
            try {
                Path file = dir.resolve(fileName);
                return Files.isRegularFile(file) ? OptionalLong.of(Files.size(file)) : OptionalLong.empty();
            } catch (IOException e) {
                return OptionalLong.empty();
            }
        }

        @Override
        public InputStream open(String fileName, long offsetBytes) throws IOException {
            Path file = dir.resolve(fileName);
            if (!Files.isRegularFile(file)) {
                throw new ImagePullException(ImagePullException.Reason.NOT_FOUND, location() + " has no " + fileName);
            }
            FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
            channel.position(offsetBytes);
            return Channels.newInputStream(channel);
        }
    }
}
