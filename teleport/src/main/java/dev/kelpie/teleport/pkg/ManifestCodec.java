package dev.kelpie.teleport.pkg;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.kelpie.teleport.store.PackageIds;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.Set;

/**
 * Reads and writes manifests. Reading checks every field a reader later trusts — names that become paths, hashes,
 * sizes within limits — so that nothing downstream meets a surprise: a manifest either passes here or is refused
 * with {@link InvalidPackageException} naming the field.
 */
public final class ManifestCodec {

    /** A manifest lists a handful of blobs and a sandbox's env; a megabyte is far beyond any real one. */
    public static final int MAX_MANIFEST_BYTES = 1024 * 1024;
    /** More blobs than any kind writes, with room to grow. */
    static final int MAX_BLOBS = 64;
    /** A blob larger than this is a lie (or a disk no host here could hold). */
    public static final long MAX_BLOB_BYTES = 1L << 40;

    private final ObjectMapper json = new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
            .configure(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES, true)
            .enable(SerializationFeature.INDENT_OUTPUT).enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);

    public byte[] write(PackageManifest manifest) {
        try {
            return json.writeValueAsBytes(manifest);
        } catch (JacksonException e) {
            throw new IllegalStateException("a manifest could not be serialised: " + e.getMessage(), e);
        }
    }

    /**
     * @param where names the package in messages
     * @throws InvalidPackageException when the bytes are not a manifest this code understands
     */
    public PackageManifest read(byte[] bytes, String where) {
        if (bytes.length > MAX_MANIFEST_BYTES) {
            throw new InvalidPackageException(where + ": manifest of " + bytes.length + " bytes exceeds "
                    + MAX_MANIFEST_BYTES);
        }
        PackageManifest manifest;
        try {
            if (json.readTree(bytes).has("sealed")) {
                throw new InvalidPackageException(where + ": the package is sealed; give its store the key it was"
                        + " sealed with (kelpie.teleport.stores.NAME.seal-key-file)");
            }
            manifest = json.readValue(bytes, PackageManifest.class);
        } catch (JacksonException e) {
            throw new InvalidPackageException(where + ": manifest is not valid JSON of a package: "
                    + e.getOriginalMessage(), e);
        } catch (java.io.IOException e) {
            throw new InvalidPackageException(where + ": manifest unreadable: " + e.getMessage(), e);
        }
        if (manifest == null) {
            throw new InvalidPackageException(where + ": manifest is empty");
        }
        check(manifest, where);
        return manifest;
    }

    private static void check(PackageManifest m, String where) {
        if (m.formatVersion() != PackageManifest.FORMAT_VERSION) {
            throw new InvalidPackageException(where + ": manifest format_version " + m.formatVersion()
                    + " is not supported; this daemon reads " + PackageManifest.FORMAT_VERSION);
        }
        require(m.kind() != null, where, "kind is missing");
        try {
            PackageIds.checkId(m.id());
        } catch (IllegalArgumentException e) {
            throw new InvalidPackageException(where + ": " + e.getMessage());
        }
        require(m.baseImage() != null && notBlank(m.baseImage().version()) && notBlank(m.baseImage().arch()), where,
                "base_image with version and arch is required");
        require(m.platform() != null && notBlank(m.platform().hypervisor()), where, "platform.hypervisor is required");
        if (m.kind() == PackageKind.VM) {
            // The gate compares each of these with this host's; a vm package without them cannot be judged.
            require(notBlank(m.platform().hypervisorVersion()), where, "platform.hypervisor_version is required for a vm"
                    + " package");
            require(notBlank(m.platform().machineType()), where, "platform.machine_type is required for a vm package");
            require(notBlank(m.platform().cpuModel()), where, "platform.cpu_model is required for a vm package");
            require(isSha256Hex(m.baseImage().kernelSha256()), where, "base_image.kernel_sha256 is required for a vm"
                    + " package");
            require(isSha256Hex(m.baseImage().rootfsSha256()), where, "base_image.rootfs_sha256 is required for a vm"
                    + " package");
        }
        require(m.sourceSandbox() != null, where, "source_sandbox is required");
        SourceOciImage oci = m.sourceSandbox().ociImage();
        if (oci != null && (m.kind() == PackageKind.VM || oci.rootSha256() != null)) {
            // The gate compares it with the root this host builds; a vm package of an OCI sandbox needs it.
            require(isSha256Hex(oci.rootSha256()), where, "source_sandbox.oci_image.root_sha256 is required for a vm"
                    + " package of a sandbox from an OCI image, as 64 lowercase hex digits");
        }
        require(m.sourceSandbox().vcpuCount() >= 1 && m.sourceSandbox().vcpuCount() <= 1024, where,
                "source_sandbox.vcpu_count " + m.sourceSandbox().vcpuCount() + " is out of range 1..1024");
        require(m.sourceSandbox().memoryMib() >= 64 && m.sourceSandbox().memoryMib() <= 16 * 1024 * 1024, where,
                "source_sandbox.memory_mib " + m.sourceSandbox().memoryMib() + " is out of range");
        require(m.blobs().size() <= MAX_BLOBS, where, m.blobs().size() + " blobs exceed " + MAX_BLOBS);
        Set<String> names = new HashSet<>();
        for (BlobRef blob : m.blobs()) {
            require(blob != null, where, "a blob entry is null");
            try {
                PackageIds.checkBlobName(blob.name());
            } catch (IllegalArgumentException e) {
                throw new InvalidPackageException(where + ": " + e.getMessage());
            }
            require(names.add(blob.name()), where, "blob " + blob.name() + " is listed twice");
            require(blob.sizeBytes() >= 0 && blob.sizeBytes() <= MAX_BLOB_BYTES, where,
                    "blob " + blob.name() + " claims " + blob.sizeBytes() + " bytes (limit " + MAX_BLOB_BYTES + ")");
            require(blob.uncompressedSizeBytes() >= 0 && blob.uncompressedSizeBytes() <= MAX_BLOB_BYTES, where,
                    "blob " + blob.name() + " claims " + blob.uncompressedSizeBytes() + " uncompressed bytes (limit "
                            + MAX_BLOB_BYTES + ")");
            require(isSha256Hex(blob.sha256()), where, "blob " + blob.name() + " has no valid sha256");
            require(BlobRef.ZSTD.equals(blob.compression()) || BlobRef.NONE.equals(blob.compression()), where,
                    "blob " + blob.name() + " has unknown compression \"" + blob.compression() + "\"");
            require(!BlobRef.NONE.equals(blob.compression()) || blob.sizeBytes() == blob.uncompressedSizeBytes(), where,
                    "uncompressed blob " + blob.name() + " has two different sizes");
        }
        for (String required : requiredBlobs(m.kind())) {
            require(names.contains(required), where, m.kind().wireName() + " package lacks blob " + required);
        }
    }

    static Set<String> requiredBlobs(PackageKind kind) {
        return kind == PackageKind.VM ? Set.of(BlobNames.VM_MEMORY, BlobNames.VM_DISK) : Set.of(BlobNames.WORKSPACE);
    }

    private static boolean isSha256Hex(String s) {
        if (s == null || s.length() != 64) {
            return false;
        }
        return s.chars().allMatch(c -> HexFormat.isHexDigit(c) && !Character.isUpperCase(c));
    }

    private static boolean notBlank(String s) {
        return s != null && !s.isBlank();
    }

    private static void require(boolean ok, String where, String problem) {
        if (!ok) {
            throw new InvalidPackageException(where + ": manifest " + problem);
        }
    }
}
