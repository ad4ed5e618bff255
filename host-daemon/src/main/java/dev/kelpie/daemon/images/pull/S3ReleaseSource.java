package dev.kelpie.daemon.images.pull;

import dev.kelpie.daemon.images.pull.ImagePullException.Reason;
import java.io.InputStream;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.GetObjectRequest;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;
import software.amazon.awssdk.services.s3.model.NoSuchBucketException;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * Releases in an S3-compatible bucket: {@code s3://BUCKET/PREFIX/VERSION/FILE}. The client is built by the caller
 * ({@link dev.kelpie.teleport.store.S3Clients}) with the settings S3-compatible servers need.
 */
public final class S3ReleaseSource extends NamedSource {

    private final S3Client s3;
    private final String bucket;
    private final String prefix;

    public S3ReleaseSource(String name, S3Client s3, String bucket, String prefix, boolean requiresSignature) {
        super(name, requiresSignature);
        this.s3 = s3;
        this.bucket = bucket;
        this.prefix = prefix.isEmpty() || prefix.endsWith("/") ? prefix : prefix + "/";
    }

    @Override
    public String location() {
        return "s3://" + bucket + "/" + prefix;
    }

    @Override
    public Optional<Release> find(String version, String arch) {
        String releasePrefix = prefix + version + "/";
        Map<String, Long> sizes = new HashMap<>();
        call(() -> {
            for (S3Object object : s3.listObjectsV2Paginator(ListObjectsV2Request.builder().bucket(bucket)
                    .prefix(releasePrefix).build()).contents()) {
                sizes.put(object.key().substring(releasePrefix.length()), object.size());
            }
            return null;
        }, "listing " + releasePrefix);
        return sizes.isEmpty() ? Optional.empty() : Optional.of(new S3Release(releasePrefix, sizes));
    }

    private final class S3Release extends ListedRelease {
        private final String releasePrefix;

        S3Release(String releasePrefix, Map<String, Long> sizes) {
            super("s3://" + bucket + "/" + releasePrefix, sizes);
            this.releasePrefix = releasePrefix;
        }

        @Override
        public InputStream open(String fileName, long offsetBytes) {
            GetObjectRequest.Builder request = GetObjectRequest.builder().bucket(bucket).key(releasePrefix + fileName);
            if (offsetBytes > 0) {
                request.range("bytes=" + offsetBytes + "-");
            }
            return call(() -> s3.getObject(request.build()), fileName);
        }
    }

    private interface S3Call<T> {
        T run();
    }

    private <T> T call(S3Call<T> call, String what) {
        try {
            return call.run();
        } catch (NoSuchKeyException e) {
            throw new ImagePullException(Reason.NOT_FOUND, location() + " has no " + what);
        } catch (NoSuchBucketException e) {
            throw new ImagePullException(Reason.UNAVAILABLE, "bucket " + bucket + " does not exist");
        } catch (S3Exception e) {
            Reason reason = e.statusCode() == 403 || e.statusCode() == 401 ? Reason.DENIED
                    : e.statusCode() == 404 ? Reason.NOT_FOUND : Reason.UNAVAILABLE;
            throw new ImagePullException(reason, location() + " answered HTTP " + e.statusCode() + " for " + what + ": "
                    + e.awsErrorDetails().errorMessage(), e);
        } catch (SdkClientException e) {
            throw new ImagePullException(Reason.UNAVAILABLE, location() + " cannot be reached for " + what + ": "
                    + e.getMessage(), e);
        }
    }
}
