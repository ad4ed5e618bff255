package dev.kelpie.teleport.store;

import java.net.URI;
import java.time.Duration;
import java.util.Optional;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * Builds S3 clients that also work against S3-compatible servers (MinIO, s3proxy, R2): path-style addressing when
 * asked, and checksums only "when required" — the SDK's default flexible checksums are refused by servers that do
 * not implement them, and our own sha256 checks protect the bytes anyway.
 */
public final class S3Clients {

    private S3Clients() {}

    /**
     * @param endpoint empty for AWS itself
     * @param accessKeyId empty to use the SDK's default credential chain (environment, profile, instance role)
     */
    public static S3Client create(Optional<URI> endpoint, String region, boolean pathStyle,
            Optional<String> accessKeyId, Optional<String> secretAccessKey, Duration socketTimeout) {
        AwsCredentialsProvider credentials = accessKeyId.isPresent()
                ? StaticCredentialsProvider.create(AwsBasicCredentials.create(accessKeyId.get(),
                        secretAccessKey.orElse("")))
                : DefaultCredentialsProvider.builder().build();
        var builder = S3Client.builder().region(Region.of(region)).credentialsProvider(credentials)
                .forcePathStyle(pathStyle)
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .httpClientBuilder(UrlConnectionHttpClient.builder().socketTimeout(socketTimeout));
        endpoint.ifPresent(builder::endpointOverride);
        return builder.build();
    }
}
