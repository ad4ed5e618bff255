package dev.kelpie.daemon.images.trust;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.util.Arrays;
import java.util.Base64;

/**
 * A throwaway minisign key for tests that need signed files (test releases, tampering cases). It signs with the
 * JDK's Ed25519 while the daemon verifies with BouncyCastle's, so a pass is not one library agreeing with itself; it
 * shares the daemon's prehash and comment framing, which the tests against the minisign CLI check instead.
 */
public final class MinisignTestSigner {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final int PUBLIC_KEY_LENGTH_BYTES = 32;

    private final PrivateKey privateKey;
    private final byte[] keyId;
    private final byte[] publicKey;

    private MinisignTestSigner(PrivateKey privateKey, byte[] keyId, byte[] publicKey) {
        this.privateKey = privateKey;
        this.keyId = keyId;
        this.publicKey = publicKey;
    }

    public static MinisignTestSigner generate() {
        KeyPair pair;
        try {
            pair = KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
        // The X.509 encoding ends with the raw 32-byte key minisign stores.
        byte[] x509 = pair.getPublic().getEncoded();
        byte[] keyId = new byte[MinisignFormat.KEY_ID_LENGTH_BYTES];
        RANDOM.nextBytes(keyId);
        return new MinisignTestSigner(
                pair.getPrivate(), keyId, Arrays.copyOfRange(x509, x509.length - PUBLIC_KEY_LENGTH_BYTES, x509.length));
    }

    /** The contents of a {@code minisign.pub} file for this key. */
    public String publicKeyText() {
        return "untrusted comment: minisign public key for kelpie tests\n" + encode("Ed", publicKey) + "\n";
    }

    public MinisignPublicKey publicKey() {
        return MinisignPublicKey.parse(publicKeyText());
    }

    /** A {@code .minisig} in today's default, prehashed format ({@code minisign -S}). */
    public String sign(byte[] message, String trustedComment) {
        return signature("ED", MinisignSignature.prehash(message), trustedComment);
    }

    /** A {@code .minisig} in the legacy format ({@code minisign -S -l}), signing the message itself. */
    public String signLegacy(byte[] message, String trustedComment) {
        return signature("Ed", message, trustedComment);
    }

    private String signature(String algorithm, byte[] signedBytes, String trustedComment) {
        byte[] signature = ed25519(signedBytes);
        byte[] globalSignature = ed25519(MinisignSignature.globallySigned(signature, trustedComment));
        return "untrusted comment: signature from a kelpie test key\n"
                + encode(algorithm, signature) + "\n"
                + "trusted comment: " + trustedComment + "\n"
                + Base64.getEncoder().encodeToString(globalSignature) + "\n";
    }

    /** Base64 of algorithm, key id and payload: the layout of a key line and of a signature line. */
    private String encode(String algorithm, byte[] payload) {
        var line = new ByteArrayOutputStream();
        line.writeBytes(algorithm.getBytes(StandardCharsets.US_ASCII));
        line.writeBytes(keyId);
        line.writeBytes(payload);
        return Base64.getEncoder().encodeToString(line.toByteArray());
    }

    private byte[] ed25519(byte[] bytes) {
        try {
            Signature signer = Signature.getInstance("Ed25519");
            signer.initSign(privateKey);
            signer.update(bytes);
            return signer.sign();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
