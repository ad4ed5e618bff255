package dev.kelpie.teleport.store;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import software.amazon.awssdk.core.ResponseInputStream;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.DeleteObjectsResponse;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.ObjectIdentifier;
import software.amazon.awssdk.services.s3.model.S3Error;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * Packages in an S3-compatible bucket: {@code PREFIX/ID/blobs/NAME}, then {@code PREFIX/ID/manifest.json}. The
 * manifest goes up last and only if its key is still free (a conditional PUT), so it is the publish point: a reader
 * who finds it finds every blob already in place.
 *
 * <p>Blobs up to the multipart threshold are read into memory and sent in one PUT, larger ones in parts of the part
 * size, one part in memory at a time; a retried request then resends bytes already in hand. A failed publish deletes
 * what it uploaded. The client is the caller's ({@link S3Clients} builds one S3-compatible servers accept), and so is
 * closing it.
 *
 * <p>Two publishes of one id in this store are kept apart; two in different processes both write the same blob keys
 * before one manifest wins, so the S3 layout relies on ids not being reused across processes at the same moment.
 */
public final class S3PackageStore implements PackageStore {

    /** S3's floor for every part of a multipart upload but the last. */
    public static final long MIN_PART_SIZE_BYTES = 5L * 1024 * 1024;
    public static final long DEFAULT_PART_SIZE_BYTES = 16L * 1024 * 1024;
    public static final long DEFAULT_MULTIPART_THRESHOLD_BYTES = 16L * 1024 * 1024;
    /** Parts and single PUTs are held in memory while they are sent (and possibly resent). */
    public static final long MAX_BUFFER_BYTES = 512L * 1024 * 1024;
    /** DeleteObjects takes at most this many keys per request. */
    private static final int MAX_KEYS_PER_DELETE = 1_000;
    private static final String BLOB_CONTENT_TYPE = "application/octet-stream";
    private static final String MANIFEST_CONTENT_TYPE = "application/json";
    private static final String MANIFEST_SUFFIX = "/" + MANIFEST_NAME;

    private final String name;
    private final S3Client s3;
    private final String bucket;
    private final String prefix;
    private final long partSizeBytes;
    private final long multipartThresholdBytes;
    private final Set<String> publishing = ConcurrentHashMap.newKeySet();

    public S3PackageStore(String name, S3Client s3, String bucket, String prefix) {
        this(name, s3, bucket, prefix, DEFAULT_PART_SIZE_BYTES, DEFAULT_MULTIPART_THRESHOLD_BYTES);
    }

    /**
     * @param prefix key prefix without a leading slash; empty for the bucket's root
     * @param partSizeBytes the size of each multipart part but the last, at least {@value #MIN_PART_SIZE_BYTES}
     * @param multipartThresholdBytes blobs longer than this go up in parts
     */
    public S3PackageStore(String name, S3Client s3, String bucket, String prefix, long partSizeBytes,
            long multipartThresholdBytes) {
        if (bucket == null || bucket.isBlank()) {
            throw new IllegalArgumentException("S3 package store " + name + " needs a bucket");
        }
        if (partSizeBytes < MIN_PART_SIZE_BYTES || partSizeBytes > MAX_BUFFER_BYTES) {
            throw new IllegalArgumentException("part size " + partSizeBytes + " bytes is outside ["
                    + MIN_PART_SIZE_BYTES + ", " + MAX_BUFFER_BYTES + "]");
        }
        if (multipartThresholdBytes < 0 || multipartThresholdBytes > MAX_BUFFER_BYTES) {
            throw new IllegalArgumentException("multipart threshold " + multipartThresholdBytes
                    + " bytes is outside [0, " + MAX_BUFFER_BYTES + "]");
        }
        this.name = name;
        this.s3 = s3;
        this.bucket = bucket;
        this.prefix = normalizePrefix(prefix);
        this.partSizeBytes = partSizeBytes;
        this.multipartThresholdBytes = multipartThresholdBytes;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String location() {
        return "s3://" + bucket + "/" + prefix;
    }

    @Override
    public void publish(String id, Path packageDir) throws IOException {
        PackageIds.checkId(id);
        publish(id, PackageSource.scan(packageDir));
    }

    void publish(String id, PackageSource source) throws IOException {
        PackageIds.checkId(id);
        if (source.manifest().sizeBytes() > multipartThresholdBytes) {
            throw new PackageTooLargeException("the manifest of package " + id + " is " + source.manifest().sizeBytes()
                    + " bytes; store " + name + " sends manifests in one PUT of at most " + multipartThresholdBytes);
        }
        if (!publishing.add(id)) {
            throw new PackageExistsException("package " + id + " is already being published to " + location());
        }
        try {
            String manifestKey = manifestKey(id);
            // Checked up front only to skip pointless uploads; the conditional manifest PUT is what actually decides.
            if (objectExists(manifestKey)) {
                throw alreadyExists(id);
            }
            new Publish(id, source).run();
        } finally {
            publishing.remove(id);
        }
    }

    @Override
    public List<String> list() throws IOException {
        return S3Failures.call("ListObjectsV2", bucket, prefix, () -> {
            List<String> ids = new ArrayList<>();
            for (S3Object object : s3.listObjectsV2Paginator(b -> b.bucket(bucket).prefix(prefix)).contents()) {
                idOfManifest(object.key()).ifPresent(ids::add);
            }
            return ids;
        });
    }

    @Override
    public Optional<byte[]> readManifest(String id, int maxBytes) throws IOException {
        PackageIds.checkId(id);
        if (maxBytes < 0) {
            throw new IllegalArgumentException("maxBytes must not be negative, was " + maxBytes);
        }
        String key = manifestKey(id);
        try (ResponseInputStream<GetObjectResponse> in = get(key)) {
            Long sizeBytes = in.response().contentLength();
            if (sizeBytes != null && sizeBytes > maxBytes) {
                // Closing a half-read body would drain it first; abort drops the connection instead.
                in.abort();
                throw new PackageTooLargeException("s3://" + bucket + "/" + key + " is " + sizeBytes
                        + " bytes, more than the " + maxBytes + " bytes allowed; it was not read");
            }
            byte[] bytes = in.readNBytes(maxBytes);
            if (in.read() >= 0) {
                in.abort();
                throw new PackageTooLargeException("s3://" + bucket + "/" + key + " is more than the " + maxBytes
                        + " bytes allowed (its length was not declared)");
            }
            return Optional.of(bytes);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
    }

    @Override
    public InputStream openBlob(String id, String blobName) throws IOException {
        PackageIds.checkId(id);
        PackageIds.checkBlobName(blobName);
        return get(blobKey(id, blobName));
    }

    @Override
    public boolean delete(String id) throws IOException {
        PackageIds.checkId(id);
        String manifestKey = manifestKey(id);
        if (!objectExists(manifestKey)) {
            return false;
        }
        // Unpublished first: from here on readers no longer find the package, so none sees it with blobs missing.
        S3Failures.call("DeleteObject", bucket, manifestKey,
                () -> s3.deleteObject(b -> b.bucket(bucket).key(manifestKey)));
        String packagePrefix = packagePrefix(id);
        List<String> keys = S3Failures.call("ListObjectsV2", bucket, packagePrefix, () -> {
            List<String> found = new ArrayList<>();
            s3.listObjectsV2Paginator(b -> b.bucket(bucket).prefix(packagePrefix)).contents()
                    .forEach(object -> found.add(object.key()));
            return found;
        });
        deleteObjects(keys);
        return true;
    }

    @Override
    public String toString() {
        return "S3PackageStore[" + name + " at " + location() + "]";
    }

    /** One publish's uploads, and their removal when it fails. */
    private final class Publish {

        private final String id;
        private final PackageSource source;
        /** Keys this publish may have written, recorded before each upload since a failed request may still land. */
        private final List<String> written = new ArrayList<>();

        Publish(String id, PackageSource source) {
            this.id = id;
            this.source = source;
        }

        void run() throws IOException {
            try {
                for (PackageSource.NamedContent blob : source.blobs()) {
                    String key = blobKey(id, blob.name());
                    written.add(key);
                    uploadBlob(key, blob.content());
                }
                String manifestKey = manifestKey(id);
                written.add(manifestKey);
                putManifest(manifestKey);
            } catch (PackageExistsException e) {
                // Another process's manifest won: the blob keys are shared with its package now, and deleting them
                // would break it.
                throw e;
            } catch (IOException | RuntimeException e) {
                throw new IOException("publishing package " + id + " to " + location() + " failed ("
                        + e.getMessage() + "); " + removeWritten(e), e);
            } catch (Error e) {
                removeWritten(e);
                throw e;
            }
        }

        private void putManifest(String key) throws IOException {
            PackageSource.PackageContent manifest = source.manifest();
            byte[] bytes = readAll(manifest);
            try {
                s3.putObject(b -> b.bucket(bucket).key(key).contentType(MANIFEST_CONTENT_TYPE).ifNoneMatch("*"),
                        RequestBody.fromContentProvider(() -> new ByteArrayInputStream(bytes), bytes.length,
                                MANIFEST_CONTENT_TYPE));
            } catch (SdkException e) {
                if (!S3Failures.isPreconditionFailed(e)) {
                    throw S3Failures.toIOException("PUT", bucket, key, e);
                }
                // A retried PUT whose first attempt landed is refused too; then the manifest there is ours.
                if (!ownManifestIsThere(bytes)) {
                    PackageExistsException exists = alreadyExists(id);
                    exists.initCause(e);
                    throw exists;
                }
            }
        }

        private boolean ownManifestIsThere(byte[] bytes) throws IOException {
            try {
                return readManifest(id, bytes.length).map(stored -> Arrays.equals(stored, bytes))
                        .orElse(false);
            } catch (PackageTooLargeException longer) {
                return false;
            }
        }

        private String removeWritten(Throwable failure) {
            try {
                // The manifest first, in case its PUT landed before the failure was reported.
                deleteObjects(written.reversed());
                return "the objects it had uploaded were removed";
            } catch (IOException | RuntimeException e) {
                failure.addSuppressed(e);
                return "removing the objects it had uploaded failed too (see suppressed), so some may remain under "
                        + location() + id + "/";
            }
        }
    }

    private void uploadBlob(String key, PackageSource.PackageContent content) throws IOException {
        if (content.sizeBytes() > multipartThresholdBytes) {
            new MultipartUpload(s3, bucket, key).send(content, partSizeBytes);
            return;
        }
        byte[] bytes = readAll(content);
        S3Failures.call("PUT", bucket, key, () -> s3.putObject(b -> b.bucket(bucket).key(key)
                .contentType(BLOB_CONTENT_TYPE), RequestBody.fromContentProvider(() -> new ByteArrayInputStream(bytes),
                        bytes.length, BLOB_CONTENT_TYPE)));
    }

    /**
     * GET rather than HEAD: a HEAD's 404 has no body to name the error, so the SDK reports a missing bucket as a
     * missing key, and a misconfigured store would look empty instead of failing.
     */
    private boolean objectExists(String key) throws IOException {
        try (ResponseInputStream<GetObjectResponse> in = get(key)) {
            // Only the answer matters; dropping the connection beats draining a body of unknown length.
            in.abort();
            return true;
        } catch (NoSuchFileException e) {
            return false;
        }
    }

    /** @throws NoSuchFileException naming the object when there is none */
    private ResponseInputStream<GetObjectResponse> get(String key) throws IOException {
        try {
            return s3.getObject(b -> b.bucket(bucket).key(key));
        } catch (NoSuchKeyException e) {
            NoSuchFileException missing = new NoSuchFileException("s3://" + bucket + "/" + key, null,
                    "no such object in store " + name);
            missing.initCause(e);
            throw missing;
        } catch (SdkException e) {
            throw S3Failures.toIOException("GET", bucket, key, e);
        }
    }

    private void deleteObjects(List<String> keys) throws IOException {
        for (int from = 0; from < keys.size(); from += MAX_KEYS_PER_DELETE) {
            List<ObjectIdentifier> batch = keys.subList(from, Math.min(keys.size(), from + MAX_KEYS_PER_DELETE))
                    .stream().map(key -> ObjectIdentifier.builder().key(key).build()).toList();
            DeleteObjectsResponse response = S3Failures.call("DeleteObjects", bucket, batch.getFirst().key(),
                    () -> s3.deleteObjects(b -> b.bucket(bucket).delete(d -> d.objects(batch).quiet(true))));
            if (!response.errors().isEmpty()) {
                S3Error first = response.errors().getFirst();
                throw new IOException("DeleteObjects in s3://" + bucket + " failed for " + response.errors().size()
                        + " keys, e.g. " + first.key() + ": " + first.code() + " " + first.message());
            }
        }
    }

    private static byte[] readAll(PackageSource.PackageContent content) throws IOException {
        try (InputStream in = content.open()) {
            return in.readAllBytes();
        }
    }

    private Optional<String> idOfManifest(String key) {
        if (!key.startsWith(prefix) || !key.endsWith(MANIFEST_SUFFIX)) {
            return Optional.empty();
        }
        String candidate = key.substring(prefix.length(), key.length() - MANIFEST_SUFFIX.length());
        try {
            return Optional.of(PackageIds.checkId(candidate));
        } catch (IllegalArgumentException notAPackage) {
            // Deeper keys (ID/blobs/x/manifest.json) and foreign objects under the prefix are not packages.
            return Optional.empty();
        }
    }

    private String packagePrefix(String id) {
        return prefix + id + "/";
    }

    private String manifestKey(String id) {
        return packagePrefix(id) + MANIFEST_NAME;
    }

    private String blobKey(String id, String blobName) {
        return packagePrefix(id) + BLOBS_DIR + "/" + blobName;
    }

    private PackageExistsException alreadyExists(String id) {
        return new PackageExistsException("package " + id + " already exists in store " + name + " ("
                + location() + ")");
    }

    private static String normalizePrefix(String prefix) {
        if (prefix == null || prefix.isEmpty()) {
            return "";
        }
        if (prefix.startsWith("/")) {
            throw new IllegalArgumentException("key prefix \"" + prefix + "\" must not start with '/'");
        }
        return prefix.endsWith("/") ? prefix : prefix + "/";
    }
}
