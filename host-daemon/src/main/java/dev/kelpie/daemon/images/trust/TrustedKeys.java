package dev.kelpie.daemon.images.trust;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The minisign public keys whose signatures the image cache believes. Only a configured key can vouch for a file;
 * holding several lets a release key be rotated without a flag day.
 */
public final class TrustedKeys {
    private final Map<String, MinisignPublicKey> keysById = new LinkedHashMap<>();

    /** @throws IllegalArgumentException if two keys share a key id, which would make signatures ambiguous */
    public TrustedKeys(List<MinisignPublicKey> keys) {
        for (MinisignPublicKey key : keys) {
            if (keysById.putIfAbsent(key.keyId(), key) != null) {
                throw new IllegalArgumentException(key + " is configured twice");
            }
        }
    }

    /** The trusted keys' ids, as minisign's 16 hex digits. */
    public List<String> keyIds() {
        return List.copyOf(keysById.keySet());
    }

    /**
     * Checks that {@code signatureFileText} is a minisign signature of {@code message} by one of these keys, and
     * that its trusted comment is the one that was signed.
     *
     * @param signatureFileText the {@code .minisig} file decoded as UTF-8
     * @return the trusted comment, now safe to believe
     * @throws SignatureRejectedException saying why the signature cannot be trusted
     */
    public String verify(byte[] message, String signatureFileText) {
        if (keysById.isEmpty()) {
            throw new SignatureRejectedException("no minisign public key is configured, so no signature is trusted");
        }
        MinisignSignature signature = MinisignSignature.parse(signatureFileText);
        MinisignPublicKey key = keysById.get(signature.keyId());
        if (key == null) {
            throw new SignatureRejectedException("signed by minisign key " + signature.keyId()
                    + ", which is not trusted (trusted: " + String.join(", ", keysById.keySet()) + ")");
        }
        if (!signature.signs(message, key)) {
            throw new SignatureRejectedException(
                    "signature does not match: the file was altered or signed by another key");
        }
        if (!signature.vouchesForTrustedComment(key)) {
            throw new SignatureRejectedException("trusted comment was altered");
        }
        return signature.trustedComment();
    }
}
