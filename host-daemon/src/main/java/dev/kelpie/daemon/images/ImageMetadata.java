package dev.kelpie.daemon.images;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.teleport.ImageVersion;
import dev.kelpie.teleport.InvalidImageVersionException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * What an image's {@code metadata.json} (written by image-build) says, read once and checked. Both image homes — a
 * local build directory and the cache — boot from the same fields, so both read them here.
 *
 * @param files the files image-build listed with their sizes and hashes (the kernel, rootfs and disk template)
 */
public record ImageMetadata(String version, String arch, String flavor, String kernelFile, String kernelCmdline,
        String rootfsFile, String diskTemplateFile, long diskTemplateSizeMib, String agentVersion,
        String agentProtocolVersion, List<ImageFile> files) {

    /** metadata.json schema versions this daemon understands. */
    public static final int SCHEMA_VERSION = 1;

    /** The metadata file's name inside an image. */
    public static final String FILE_NAME = "metadata.json";

    /**
     * How an image names its files: plain names in its own directory (no separators, no {@code ..}), so resolving
     * one, in a local image directory or a pulled archive, never leaves the image.
     */
    public static final Pattern PLAIN_FILE_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

    /**
     * Parses {@code metadata.json}'s bytes and checks the fields; {@code where} names the image in messages.
     *
     * @throws InvalidImageException when the bytes are not JSON, or saying which field is missing or wrong
     */
    public static ImageMetadata parse(byte[] bytes, ObjectMapper json, String where) {
        JsonNode meta;
        try {
            meta = json.readTree(bytes);
        } catch (IOException e) {
            // From bytes in memory every failure is the content's, also Jackson's plain IOException for an
            // impossible UTF-32 encoding.
            throw new InvalidImageException(where + ": metadata.json is not valid JSON: " + e.getMessage());
        }
        return from(meta, where);
    }

    /**
     * Reads and checks the fields; {@code where} names the image in messages.
     *
     * @throws InvalidImageException saying which field is missing or wrong
     */
    public static ImageMetadata from(JsonNode meta, String where) {
        int schema = meta.path("schema_version").asInt(-1);
        if (schema != SCHEMA_VERSION) {
            throw new InvalidImageException(where + ": metadata.json has schema_version "
                    + meta.path("schema_version").asText("(none)") + "; this daemon reads " + SCHEMA_VERSION);
        }
        String version = text(meta, "version", where);
        try {
            ImageVersion.parse(version);
        } catch (InvalidImageVersionException e) {
            throw new InvalidImageException(where + ": metadata.json: " + e.getMessage());
        }
        String arch = text(meta, "arch", where);
        List<ImageFile> files = new ArrayList<>();
        for (JsonNode f : meta.path("files")) {
            files.add(new ImageFile(f.path("name").asText(""), f.path("size").asLong(-1), f.path("sha256").asText("")));
        }
        return new ImageMetadata(version, arch, meta.path("flavor").asText(""),
                arch.equals("x86_64") ? "vmlinux" : "Image", text(meta, "kernel_cmdline", where),
                plainFileName(meta.path("rootfs").path("file").asText("rootfs.ext4"), "rootfs.file", where),
                plainFileName(meta.path("disk_template").path("file").asText("disk-template.ext4"),
                        "disk_template.file", where),
                meta.path("disk_template").path("size_mib").asLong(0), meta.path("agent").path("version").asText(""),
                meta.path("agent").path("protocol_version").asText(""), List.copyOf(files));
    }

    /** The files a VM boots from, in the order kernel, rootfs, disk template. */
    public List<String> bootFiles() {
        return List.of(kernelFile, rootfsFile, diskTemplateFile);
    }

    /** The agent protocol as a number, or -1 when the image does not say (an agent built without it). */
    public int agentProtocolNumber() {
        return agentProtocolVersion.matches("\\d{1,9}") ? Integer.parseInt(agentProtocolVersion) : -1;
    }

    /** A bootable image whose files {@code location} finds. */
    public BootImage toBootImage(Path directory, Function<String, Path> location) {
        return new BootImage(version, arch, directory, location.apply(kernelFile), kernelCmdline,
                location.apply(rootfsFile), location.apply(diskTemplateFile), diskTemplateSizeMib, agentVersion,
                Math.max(agentProtocolNumber(), 0), sha256Of(kernelFile), sha256Of(rootfsFile));
    }

    private String sha256Of(String fileName) {
        ImageFile file = filesByName().get(fileName);
        return file == null ? "" : file.sha256();
    }

    /** The listed files by name. */
    public Map<String, ImageFile> filesByName() {
        Map<String, ImageFile> byName = new java.util.LinkedHashMap<>();
        files.forEach(f -> byName.put(f.name(), f));
        return byName;
    }

    private static String plainFileName(String name, String field, String where) {
        if (!PLAIN_FILE_NAME.matcher(name).matches()) {
            String shown = name.length() > 80 ? name.substring(0, 80) + "…" : name;
            throw new InvalidImageException(where + ": metadata.json's " + field + " \"" + shown
                    + "\" is not a plain file name beside it");
        }
        return name;
    }

    private static String text(JsonNode meta, String field, String where) {
        String value = meta.path(field).asText("");
        if (value.isEmpty()) {
            throw new InvalidImageException(where + ": metadata.json has no " + field);
        }
        return value;
    }
}
