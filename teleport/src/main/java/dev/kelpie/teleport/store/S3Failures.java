package dev.kelpie.teleport.store;

import java.io.IOException;
import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * Turns the SDK's unchecked exceptions into the {@link IOException}s stores promise, naming what was asked of which
 * object and, when the server answered, its error code: "PUT s3://b/k failed: AccessDenied (HTTP 403)" is enough to
 * act on without a stack trace.
 */
final class S3Failures {

    static final int HTTP_PRECONDITION_FAILED = 412;

    private S3Failures() {}

    /** A request to S3; the SDK's unchecked exceptions it throws are translated by {@link #call}. */
    @FunctionalInterface
    interface S3Call<T> {
        T run() throws IOException;
    }

    static <T> T call(String action, String bucket, String key, S3Call<T> call) throws IOException {
        try {
            return call.run();
        } catch (SdkException e) {
            throw toIOException(action, bucket, key, e);
        }
    }

    static IOException toIOException(String action, String bucket, String key, SdkException e) {
        String target = action + " s3://" + bucket + "/" + key;
        if (e instanceof S3Exception s3) {
            AwsErrorDetails details = s3.awsErrorDetails();
            String code = details == null || details.errorCode() == null ? "no error code" : details.errorCode();
            String message = details == null || details.errorMessage() == null ? "" : ": " + details.errorMessage();
            return new IOException(target + " failed: " + code + " (HTTP " + s3.statusCode() + ")" + message, e);
        }
        // No answer from the server (connection refused, timeout, a body we could not send): the SDK says why.
        return new IOException(target + " failed: " + e.getMessage(), e);
    }

    static boolean isPreconditionFailed(SdkException e) {
        return e instanceof S3Exception s3 && s3.statusCode() == HTTP_PRECONDITION_FAILED;
    }
}
