package dev.kelpie.daemon.images.trust;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HexFormat;

/**
 * The encoding minisign shares between public key and signature files, kept in one place so both parse the
 * algorithm and key id the same way. Errors are {@link IllegalArgumentException}s naming the part that is wrong;
 * each caller adds what kind of file it was.
 */
final class MinisignFormat {
    static final String UNTRUSTED_COMMENT_PREFIX = "untrusted comment: ";
    static final int ALGORITHM_LENGTH_BYTES = 2;
    static final int KEY_ID_LENGTH_BYTES = 8;
    /** Where the payload (public key or signature) starts, after the algorithm and key id. */
    static final int PAYLOAD_OFFSET_BYTES = ALGORITHM_LENGTH_BYTES + KEY_ID_LENGTH_BYTES;

    private MinisignFormat() {}

    static byte[] decodeBase64(String line, String what, int expectedLengthBytes) {
        byte[] bytes;
        try {
            bytes = Base64.getDecoder().decode(line.strip());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(what + " is not valid base64");
        }
        if (bytes.length != expectedLengthBytes) {
            throw new IllegalArgumentException(
                    what + " decodes to " + bytes.length + " bytes, expected " + expectedLengthBytes);
        }
        return bytes;
    }

    /** The two-letter algorithm at the start of a decoded key or signature line. */
    static String algorithm(byte[] decoded) {
        return new String(decoded, 0, ALGORITHM_LENGTH_BYTES, StandardCharsets.ISO_8859_1);
    }

    /**
     * The eight stored key id bytes read as a little-endian u64, as minisign reads them, in uppercase hex padded to
     * 16 digits so ids line up in messages. minisign itself prints them unpadded: "0374CD70937F79D0" is its
     * "374CD70937F79D0".
     */
    static String keyId(byte[] decoded) {
        long id = ByteBuffer.wrap(decoded, ALGORITHM_LENGTH_BYTES, KEY_ID_LENGTH_BYTES)
                .order(ByteOrder.LITTLE_ENDIAN)
                .getLong();
        return HexFormat.of().withUpperCase().toHexDigits(id);
    }
}
