package dev.kelpie.daemon.images;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.teleport.ImageVersion;
import dev.kelpie.teleport.InvalidImageVersionException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Images laid out as image-build writes them: {@code ROOT/VERSION/ARCH/metadata.json} with the kernel, rootfs and
 * disk template beside it. A root may also point straight at one image directory. Scanned on every call: images are
 * few and a scan costs a handful of stat calls, and nothing goes stale when a build lands.
 */
public final class LocalImageDirectory implements ImageSource {

    /** metadata.json schema versions this daemon understands. */
    static final int SCHEMA_VERSION = 1;

    private final List<Path> roots;
    private final ObjectMapper json;

    public LocalImageDirectory(List<Path> roots, ObjectMapper json) {
        this.roots = List.copyOf(roots);
        this.json = json;
    }

    @Override
    public BootImage resolve(String version, String arch) {
        List<BootImage> forArch = list().stream().filter(i -> i.arch().equals(arch)).toList();
        if (version == null || version.isEmpty()) {
            return forArch.stream().findFirst().orElseThrow(() -> new ImageNotFoundException(
                    "no " + arch + " image in " + rootsText() + availableText()));
        }
        ImageVersion.parse(version); // rejects a malformed version with the grammar's own message
        return forArch.stream().filter(i -> i.version().equals(version)).findFirst()
                .orElseThrow(() -> new ImageNotFoundException("image " + version + " for " + arch + " is not in "
                        + rootsText() + availableText()));
    }

    @Override
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
            meta = json.readTree(dir.resolve("metadata.json").toFile());
        } catch (IOException e) {
            throw new InvalidImageException(dir + "/metadata.json is not valid JSON: " + e.getMessage());
        }
        int schema = meta.path("schema_version").asInt(-1);
        if (schema != SCHEMA_VERSION) {
            throw new InvalidImageException(dir + "/metadata.json has schema_version " + schema + "; this daemon reads "
                    + SCHEMA_VERSION);
        }
        String version = text(meta, "version", dir);
        try {
            ImageVersion.parse(version);
        } catch (InvalidImageVersionException e) {
            throw new InvalidImageException(dir + "/metadata.json: " + e.getMessage());
        }
        String arch = text(meta, "arch", dir);
        Path kernel = dir.resolve(arch.equals("x86_64") ? "vmlinux" : "Image");
        Path rootfs = dir.resolve(meta.path("rootfs").path("file").asText("rootfs.ext4"));
        Path template = dir.resolve(meta.path("disk_template").path("file").asText("disk-template.ext4"));
        for (Path required : List.of(kernel, rootfs, template)) {
            if (!Files.isRegularFile(required)) {
                throw new InvalidImageException("image " + version + " (" + dir + ") lacks " + required.getFileName());
            }
        }
        return new BootImage(version, arch, dir, kernel, text(meta, "kernel_cmdline", dir), rootfs, template,
                meta.path("disk_template").path("size_mib").asLong(0), meta.path("agent").path("version").asText(""),
                meta.path("agent").path("protocol_version").asInt(0));
    }

    private static String text(JsonNode meta, String field, Path dir) {
        String value = meta.path(field).asText("");
        if (value.isEmpty()) {
            throw new InvalidImageException(dir + "/metadata.json has no " + field);
        }
        return value;
    }

    private String rootsText() {
        return roots.stream().map(Path::toString).collect(Collectors.joining(", "));
    }

    private String availableText() {
        List<BootImage> all = list();
        return all.isEmpty() ? " (no images there)"
                : "; available: " + all.stream().map(i -> i.version() + "/" + i.arch()).collect(Collectors.joining(", "));
    }
}
