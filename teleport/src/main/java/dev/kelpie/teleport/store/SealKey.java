package dev.kelpie.teleport.store;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.HexFormat;
import javax.crypto.spec.SecretKeySpec;

/**
 * The AES-256 key that seals a shared store's packages, read from a file holding 32 random bytes in base64 (make one
 * with {@code head -c 32 /dev/urandom | base64}). Its id — the first 8 bytes of its sha256 — is written beside every
 * sealed object, so a reader holding another key says so instead of reporting damage.
 */
public final class SealKey {

    static final int KEY_BYTES = 32;
    private static final int ID_BYTES = 8;

    private final SecretKeySpec key;
    private final String id;

    SealKey(byte[] raw) {
        if (raw.length != KEY_BYTES) {
            throw new IllegalArgumentException("a seal key is " + KEY_BYTES + " bytes, this one " + raw.length);
        }
        this.key = new SecretKeySpec(raw, "AES");
        try {
            this.id = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(raw), 0, ID_BYTES);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }

    /** @throws IllegalArgumentException when the file does not hold 32 bytes in base64 */
    public static SealKey read(Path file) throws IOException {
        String text = Files.readString(file, StandardCharsets.US_ASCII).strip();
        try {
            return new SealKey(Base64.getDecoder().decode(text));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("seal key file " + file + ": " + e.getMessage()
                    + " (expected 32 random bytes in base64, e.g. from `head -c 32 /dev/urandom | base64`)", e);
        }
    }

    SecretKeySpec secret() {
        return key;
    }

    public String id() {
        return id;
    }
}
