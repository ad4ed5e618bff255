package dev.kelpie.daemon.images.pull;

import java.util.Optional;

/**
 * A place image releases are published: GitHub Releases, an S3-compatible bucket, a local directory. Every source
 * offers the same three files per release — {@code SHA256SUMS}, its minisign signature {@code SHA256SUMS.minisig},
 * and one archive per arch {@code kelpie-image-VERSION-ARCH.tar.zst} — and trust comes only from the signature,
 * never from the transport.
 */
public interface ReleaseSource {

    /** The name it was configured under. */
    String name();

    /** Where it points, for messages and the cache's record ("github:owner/repo", "s3://bucket/prefix", "local:/dir"). */
    String location();

    /** False only when the configuration explicitly allows this source's releases to be unsigned. */
    boolean requiresSignature();

    /**
     * The release of {@code version}, or empty when this source has none.
     *
     * @throws ImagePullException when the source cannot answer (unreachable, rate limited, denied)
     */
    Optional<Release> find(String version, String arch);
}
