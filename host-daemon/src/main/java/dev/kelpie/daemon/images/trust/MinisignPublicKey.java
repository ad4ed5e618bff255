package dev.kelpie.daemon.images.trust;

import static dev.kelpie.daemon.images.trust.MinisignFormat.PAYLOAD_OFFSET_BYTES;
import static dev.kelpie.daemon.images.trust.MinisignFormat.UNTRUSTED_COMMENT_PREFIX;

import java.util.List;
import org.bouncycastle.crypto.params.Ed25519PublicKeyParameters;
import org.bouncycastle.crypto.signers.Ed25519Signer;

/**
 * A minisign public key, as in a {@code minisign.pub} file or the bare base64 line given to {@code minisign -P}.
 * Parsing validates the Ed25519 point up front so a mistyped key fails at configuration time, not at the first pull.
 */
public final class MinisignPublicKey {
    private static final String ALGORITHM = "Ed";
    private static final int ENCODED_LENGTH_BYTES = PAYLOAD_OFFSET_BYTES + Ed25519PublicKeyParameters.KEY_SIZE;

    private final String keyId;
    private final Ed25519PublicKeyParameters key;

    private MinisignPublicKey(String keyId, Ed25519PublicKeyParameters key) {
        this.keyId = keyId;
        this.key = key;
    }

    /** @throws IllegalArgumentException naming what is wrong with the text */
    public static MinisignPublicKey parse(String text) {
        try {
            return decode(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("not a minisign public key: " + e.getMessage(), e);
        }
    }

    private static MinisignPublicKey decode(String text) {
        List<String> lines = text.strip().lines().toList();
        String keyLine = switch (lines.size()) {
            case 1 -> lines.getFirst();
            case 2 -> {
                if (!lines.getFirst().startsWith(UNTRUSTED_COMMENT_PREFIX)) {
                    throw new IllegalArgumentException(
                            "first line does not start with \"" + UNTRUSTED_COMMENT_PREFIX + "\"");
                }
                yield lines.getLast();
            }
            default -> throw new IllegalArgumentException("expected the base64 key line, optionally after an "
                    + "untrusted comment line, but got " + lines.size() + " lines");
        };
        byte[] decoded = MinisignFormat.decodeBase64(keyLine, "key line", ENCODED_LENGTH_BYTES);
        String algorithm = MinisignFormat.algorithm(decoded);
        if (!algorithm.equals(ALGORITHM)) {
            throw new IllegalArgumentException("algorithm is \"" + algorithm + "\", expected \"" + ALGORITHM + "\"");
        }
        try {
            return new MinisignPublicKey(
                    MinisignFormat.keyId(decoded), new Ed25519PublicKeyParameters(decoded, PAYLOAD_OFFSET_BYTES));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("the key bytes are not an Ed25519 public key");
        }
    }

    /** How signatures name their key: 16 uppercase hex digits, the number minisign prints (it drops leading zeros). */
    public String keyId() {
        return keyId;
    }

    boolean verifies(byte[] signedBytes, byte[] signature) {
        var verifier = new Ed25519Signer();
        verifier.init(false, key);
        verifier.update(signedBytes, 0, signedBytes.length);
        return verifier.verifySignature(signature);
    }

    @Override
    public String toString() {
        return "minisign key " + keyId;
    }
}
