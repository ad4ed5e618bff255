package dev.kelpie.daemon.images.pull;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kelpie.daemon.images.trust.MinisignPublicKey;
import dev.kelpie.daemon.images.trust.SignatureRejectedException;
import dev.kelpie.daemon.images.trust.TrustedKeys;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Pattern;

/**
 * A release's {@code SHA256SUMS} and its {@code SHA256SUMS.minisig} are downloads, parsed before anything is trusted.
 * The input is the checksums file, a NUL byte, then the signature file, as the puller reads them: the signature is
 * verified ({@link SignatureRejectedException} is its only refusal) and the checksums are parsed
 * ({@link ImagePullException} DAMAGED is theirs), the latter also when the signature fails, since a source marked
 * allow-unsigned parses unsigned checksums. Anything else escaping is a bug, and so is a listed hash that is not
 * 64 lowercase hex digits.
 *
 * <p>Seeds: {@code ReleaseChecksumsFuzzTestInputs/} holds a test image's real checksums and signature, made by the
 * minisign CLI with the key below, so the fuzzer starts past the signature check.
 */
class ReleaseChecksumsFuzzTest {

    /** The public key image-build's test images are signed with (its minisign.pub). */
    private static final String SIGNING_KEY = "untrusted comment: minisign public key 1F8B69BF1FF0AFC1\n"
            + "RWTBr/Afv2mLH70Gz6o3jYBAcu3CWeaGEDZy23s6AlG/ZpA0mhjfj3Cj\n";
    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");
    private static final List<String> LISTED_NAMES = List.of("metadata.json", "vmlinux", "rootfs.ext4",
            "disk-template.ext4", ReleaseFiles.archive("0.0.0-test", "x86_64"));

    private final TrustedKeys trustedKeys = new TrustedKeys(List.of(MinisignPublicKey.parse(SIGNING_KEY)));

    @FuzzTest(maxDuration = "10s")
    void anyChecksumsAndSignatureAreTrustedAndParsedOrRefused(byte[] input) {
        int separator = indexOf(input, (byte) 0);
        byte[] checksums = Arrays.copyOfRange(input, 0, separator);
        String signature = new String(input, Math.min(separator + 1, input.length),
                Math.max(input.length - separator - 1, 0), StandardCharsets.UTF_8);
        try {
            String trustedComment = trustedKeys.verify(checksums, signature);
            assertTrue(trustedComment.lines().count() <= 1, "a trusted comment spans lines: " + trustedComment);
        } catch (SignatureRejectedException refused) {
            // Malformed, by another key, or not matching: the documented refusal.
        }
        Sha256Sums sums;
        try {
            sums = Sha256Sums.parse(checksums, "fuzzed SHA256SUMS");
        } catch (ImagePullException refused) {
            assertEquals(ImagePullException.Reason.DAMAGED, refused.reason());
            return;
        }
        for (String name : LISTED_NAMES) {
            sums.sha256(name).ifPresent(hex -> assertTrue(SHA256_HEX.matcher(hex).matches(), name + ": " + hex));
        }
    }

    private static int indexOf(byte[] bytes, byte wanted) {
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == wanted) {
                return i;
            }
        }
        return bytes.length;
    }
}
