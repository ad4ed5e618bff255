package dev.kelpie.daemon.images.trust;

import static dev.kelpie.daemon.images.trust.MinisignFormat.PAYLOAD_OFFSET_BYTES;
import static dev.kelpie.daemon.images.trust.MinisignFormat.UNTRUSTED_COMMENT_PREFIX;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.bouncycastle.crypto.digests.Blake2bDigest;
import org.bouncycastle.crypto.params.Ed25519PrivateKeyParameters;

/**
 * The contents of a {@code .minisig} file. Parsing only checks the shape; {@link TrustedKeys} decides whether to
 * believe it. A malformed file is rejected like a forged one, since it comes from the same untrusted download.
 */
public final class MinisignSignature {
    /** Signs the message itself ({@code minisign -S -l}, older versions' default); {@code minisign -V} accepts it. */
    private static final String LEGACY_ALGORITHM = "Ed";
    /** Signs the BLAKE2b-512 of the message, so a large file is signed streaming (Ed25519 reads its input twice). */
    private static final String PREHASHED_ALGORITHM = "ED";
    private static final String TRUSTED_COMMENT_PREFIX = "trusted comment: ";
    private static final int LINE_COUNT = 4;
    private static final int SIGNATURE_LENGTH_BYTES = Ed25519PrivateKeyParameters.SIGNATURE_SIZE;
    private static final int ENCODED_LENGTH_BYTES = PAYLOAD_OFFSET_BYTES + SIGNATURE_LENGTH_BYTES;
    private static final int PREHASH_LENGTH_BITS = 512;

    private final boolean prehashed;
    private final String keyId;
    private final byte[] signature;
    private final String trustedComment;
    private final byte[] globalSignature;

    private MinisignSignature(
            boolean prehashed, String keyId, byte[] signature, String trustedComment, byte[] globalSignature) {
        this.prehashed = prehashed;
        this.keyId = keyId;
        this.signature = signature;
        this.trustedComment = trustedComment;
        this.globalSignature = globalSignature;
    }

    /**
     * @param signatureFileText the {@code .minisig} file decoded as UTF-8 (the trusted comment is signed as UTF-8)
     * @throws SignatureRejectedException naming what is malformed
     */
    public static MinisignSignature parse(String signatureFileText) {
        try {
            return decode(signatureFileText);
        } catch (IllegalArgumentException e) {
            throw new SignatureRejectedException("not a minisign signature: " + e.getMessage());
        }
    }

    private static MinisignSignature decode(String text) {
        List<String> lines = text.strip().lines().toList();
        if (lines.size() != LINE_COUNT) {
            throw new IllegalArgumentException("expected " + LINE_COUNT + " lines, got " + lines.size());
        }
        if (!lines.get(0).startsWith(UNTRUSTED_COMMENT_PREFIX)) {
            throw new IllegalArgumentException("first line does not start with \"" + UNTRUSTED_COMMENT_PREFIX + "\"");
        }
        byte[] decoded = MinisignFormat.decodeBase64(lines.get(1), "signature line", ENCODED_LENGTH_BYTES);
        String algorithm = MinisignFormat.algorithm(decoded);
        if (!algorithm.equals(PREHASHED_ALGORITHM) && !algorithm.equals(LEGACY_ALGORITHM)) {
            throw new IllegalArgumentException("unknown algorithm \"" + algorithm + "\", expected \""
                    + PREHASHED_ALGORITHM + "\" or \"" + LEGACY_ALGORITHM + "\"");
        }
        if (!lines.get(2).startsWith(TRUSTED_COMMENT_PREFIX)) {
            throw new IllegalArgumentException(
                    "missing trusted comment: third line does not start with \"" + TRUSTED_COMMENT_PREFIX + "\"");
        }
        return new MinisignSignature(
                algorithm.equals(PREHASHED_ALGORITHM),
                MinisignFormat.keyId(decoded),
                Arrays.copyOfRange(decoded, PAYLOAD_OFFSET_BYTES, decoded.length),
                lines.get(2).substring(TRUSTED_COMMENT_PREFIX.length()),
                MinisignFormat.decodeBase64(lines.get(3), "global signature line", SIGNATURE_LENGTH_BYTES));
    }

    /** The id of the key that made this signature, in the form of {@link MinisignPublicKey#keyId()}. */
    public String keyId() {
        return keyId;
    }

    /** Signed, but only to be believed once {@link TrustedKeys#verify} has accepted the signature. */
    public String trustedComment() {
        return trustedComment;
    }

    boolean signs(byte[] message, MinisignPublicKey key) {
        return key.verifies(prehashed ? prehash(message) : message, signature);
    }

    boolean vouchesForTrustedComment(MinisignPublicKey key) {
        return key.verifies(globallySigned(signature, trustedComment), globalSignature);
    }

    /**
     * What the global signature signs: the message signature followed by the trusted comment, so a comment cannot
     * be moved onto another file's signature.
     */
    static byte[] globallySigned(byte[] signature, String trustedComment) {
        byte[] comment = trustedComment.getBytes(StandardCharsets.UTF_8);
        byte[] signed = Arrays.copyOf(signature, signature.length + comment.length);
        System.arraycopy(comment, 0, signed, signature.length, comment.length);
        return signed;
    }

    /** What a prehashed signature signs in place of the message: its BLAKE2b-512. */
    static byte[] prehash(byte[] message) {
        var digest = new Blake2bDigest(PREHASH_LENGTH_BITS);
        digest.update(message, 0, message.length);
        byte[] hash = new byte[digest.getDigestSize()];
        digest.doFinal(hash, 0);
        return hash;
    }
}
