package dev.kelpie.teleport.store;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.CompletedPart;

/**
 * One large object sent in parts: CreateMultipartUpload, UploadPart for each part read into memory in turn, then
 * CompleteMultipartUpload. Any failure aborts the upload, because the parts of an upload that is neither completed nor
 * aborted stay in the bucket (and on the bill) without ever showing up as an object.
 */
final class MultipartUpload {

    /** S3 numbers parts 1 to 10,000; a blob that would need more gets larger parts instead. */
    static final int MAX_PARTS = 10_000;
    private static final String CONTENT_TYPE = "application/octet-stream";

    private final S3Client s3;
    private final String bucket;
    private final String key;

    MultipartUpload(S3Client s3, String bucket, String key) {
        this.s3 = s3;
        this.bucket = bucket;
        this.key = key;
    }

    /** Sends {@code content} in parts of {@code partSizeBytes} (the last one shorter), or larger if it needs more. */
    void send(PackageSource.PackageContent content, long partSizeBytes) throws IOException {
        long sizeBytes = content.sizeBytes();
        int partBytes = partBytesFor(sizeBytes, partSizeBytes);
        String uploadId = S3Failures.call("CreateMultipartUpload", bucket, key, () -> s3.createMultipartUpload(
                b -> b.bucket(bucket).key(key).contentType(CONTENT_TYPE)).uploadId());
        try {
            List<CompletedPart> parts = sendParts(content, uploadId, partBytes);
            S3Failures.call("CompleteMultipartUpload", bucket, key, () -> s3.completeMultipartUpload(
                    b -> b.bucket(bucket).key(key).uploadId(uploadId).multipartUpload(m -> m.parts(parts))));
        } catch (IOException | RuntimeException | Error e) {
            abort(uploadId, e);
            throw e;
        }
    }

    private List<CompletedPart> sendParts(PackageSource.PackageContent content, String uploadId, int partBytes)
            throws IOException {
        List<CompletedPart> parts = new ArrayList<>();
        // One buffer for every part: UploadPart may be retried, so its body must be re-readable, and a part in memory
        // is that without reading the blob twice.
        byte[] buffer = new byte[(int) Math.min(partBytes, content.sizeBytes())];
        long remainingBytes = content.sizeBytes();
        try (InputStream in = content.open()) {
            for (int partNumber = 1; remainingBytes > 0; partNumber++) {
                int length = (int) Math.min(partBytes, remainingBytes);
                readFully(in, buffer, length, content);
                parts.add(sendPart(uploadId, partNumber, buffer, length));
                remainingBytes -= length;
            }
            if (in.read() >= 0) {
                throw new IOException(content.description() + " is longer than the " + content.sizeBytes()
                        + " bytes it had when the package was scanned");
            }
        }
        return parts;
    }

    private CompletedPart sendPart(String uploadId, int partNumber, byte[] buffer, int length) throws IOException {
        RequestBody body = RequestBody.fromContentProvider(() -> new ByteArrayInputStream(buffer, 0, length), length,
                CONTENT_TYPE);
        String eTag = S3Failures.call("UploadPart " + partNumber + " of", bucket, key, () -> s3.uploadPart(
                b -> b.bucket(bucket).key(key).uploadId(uploadId).partNumber(partNumber).contentLength((long) length),
                body).eTag());
        return CompletedPart.builder().partNumber(partNumber).eTag(eTag).build();
    }

    private void abort(String uploadId, Throwable failure) {
        try {
            s3.abortMultipartUpload(b -> b.bucket(bucket).key(key).uploadId(uploadId));
        } catch (SdkException e) {
            failure.addSuppressed(S3Failures.toIOException("AbortMultipartUpload " + uploadId + " of", bucket, key, e));
        }
    }

    static int partBytesFor(long sizeBytes, long partSizeBytes) throws IOException {
        long partBytes = Math.max(partSizeBytes, Math.ceilDiv(sizeBytes, MAX_PARTS));
        if (partBytes > Integer.MAX_VALUE) {
            throw new IOException("a blob of " + sizeBytes + " bytes is too large for an S3 object");
        }
        return (int) partBytes;
    }

    private static void readFully(InputStream in, byte[] buffer, int length, PackageSource.PackageContent content)
            throws IOException {
        int n = in.readNBytes(buffer, 0, length);
        if (n < length) {
            throw new IOException(content.description() + " ended before the " + content.sizeBytes()
                    + " bytes it had when the package was scanned");
        }
    }
}
