package dev.kelpie.daemon.images;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.teleport.ImageVersion;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * Images laid out as image-build writes them: {@code ROOT/VERSION/ARCH/metadata.json} with the kernel, rootfs and
 * disk template beside it. A root may also point straight at one image directory. Scanned on every call: images are
 * few and a scan costs a handful of stat calls, and nothing goes stale when a build lands.
 */
public final class LocalImageDirectory {

    private final List<Path> roots;
    private final ObjectMapper json;

    public LocalImageDirectory(List<Path> roots, ObjectMapper json) {
        this.roots = List.copyOf(roots);
        this.json = json;
    }

    /** Every image found, newest version first. */
    public List<BootImage> list() {
        List<BootImage> images = new ArrayList<>();
        for (Path root : roots) {
            for (Path dir : candidateDirs(root)) {
                images.add(load(dir));
            }
        }
        images.sort(Comparator.comparing((BootImage i) -> ImageVersion.parse(i.version())).reversed()
                .thenComparing(BootImage::arch));
        return images;
    }

    private static List<Path> candidateDirs(Path root) {
        if (Files.isRegularFile(root.resolve("metadata.json"))) {
            return List.of(root);
        }
        if (!Files.isDirectory(root)) {
            return List.of();
        }
        try (Stream<Path> files = Files.find(root, 3, (p, a) -> a.isRegularFile() && p.endsWith("metadata.json"))) {
            return files.map(Path::getParent).filter(d -> !d.getFileName().toString().startsWith(".")).sorted().toList();
        } catch (IOException e) {
            throw new InvalidImageException("cannot scan image directory " + root + ": " + e.getMessage());
        }
    }

    BootImage load(Path dir) {
        JsonNode meta;
        try {
            meta = json.readTree(dir.resolve(ImageMetadata.FILE_NAME).toFile());
        } catch (IOException e) {
            throw new InvalidImageException(dir + "/metadata.json is not valid JSON: " + e.getMessage());
        }
        ImageMetadata metadata = ImageMetadata.from(meta, dir.toString());
        for (String required : metadata.bootFiles()) {
            if (!Files.isRegularFile(dir.resolve(required))) {
                throw new InvalidImageException("image " + metadata.version() + " (" + dir + ") lacks " + required);
            }
        }
        return metadata.toBootImage(dir, dir::resolve);
    }
}
