package dev.kelpie.daemon.images.trust;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class TrustedKeysTest {
    private static final byte[] MESSAGE = "0123abcd  kelpie-image-1.2.3-x86_64.tar.zst\n".getBytes(UTF_8);
    private static final String COMMENT = "kelpie-image 1.2.3 x86_64 (signed \u2713)";
    /** The key line of a real minisign.pub, whose comment line says "minisign public key 61B51CED2E019716". */
    private static final String MINISIGN_KEY_LINE = "RWQWlwEu7Ry1YYyYiPrVO7iXNzs7CmRy/CSIvVmSs2mNvxCwbQRqzPbJ";
    private static final int SIGNATURE_LINE = 1;
    private static final int TRUSTED_COMMENT_LINE = 2;
    private static final int GLOBAL_SIGNATURE_LINE = 3;
    /** Past the algorithm and key id: inside the Ed25519 signature or key. */
    private static final int PAYLOAD_BYTE = 20;

    private final MinisignTestSigner signer = MinisignTestSigner.generate();
    private final TrustedKeys trusted = new TrustedKeys(List.of(signer.publicKey()));

    @Test
    void aPrehashedSignatureVerifiesAndYieldsItsTrustedComment() {
        assertEquals(COMMENT, trusted.verify(MESSAGE, signer.sign(MESSAGE, COMMENT)));
    }

    @Test
    void aLegacySignatureVerifiesAndYieldsItsTrustedComment() {
        assertEquals(COMMENT, trusted.verify(MESSAGE, signer.signLegacy(MESSAGE, COMMENT)));
    }

    @Test
    void anyOfSeveralTrustedKeysIsEnough() {
        var keys = new TrustedKeys(List.of(MinisignTestSigner.generate().publicKey(), signer.publicKey()));
        assertEquals(COMMENT, keys.verify(MESSAGE, signer.sign(MESSAGE, COMMENT)));
    }

    @Test
    void theUntrustedCommentIsNotSignedAndMayChange() {
        String signature = withLine(signer.sign(MESSAGE, COMMENT), 0, line -> "untrusted comment: edited");
        assertEquals(COMMENT, trusted.verify(MESSAGE, signature));
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void aFlippedMessageByteIsRejected(boolean legacy) {
        String signature = legacy ? signer.signLegacy(MESSAGE, COMMENT) : signer.sign(MESSAGE, COMMENT);
        byte[] altered = MESSAGE.clone();
        altered[3] ^= 1;
        assertRejected(altered, signature, "signature does not match: the file was altered or signed by another key");
    }

    @Test
    void aFlippedSignatureByteIsRejected() {
        String signature = withDecodedLine(signer.sign(MESSAGE, COMMENT), SIGNATURE_LINE, bytes -> {
            bytes[PAYLOAD_BYTE] ^= 1;
            return bytes;
        });
        assertRejected(MESSAGE, signature, "signature does not match: the file was altered or signed by another key");
    }

    @Test
    void anAlteredTrustedCommentIsRejected() {
        String signature = withLine(
                signer.sign(MESSAGE, COMMENT), TRUSTED_COMMENT_LINE, line -> "trusted comment: kelpie-image 9.9.9");
        assertRejected(MESSAGE, signature, "trusted comment was altered");
    }

    @Test
    void aSignatureByAnUntrustedKeyNamesItsKeyAndTheTrustedOnes() {
        var stranger = MinisignTestSigner.generate();
        var other = MinisignTestSigner.generate();
        var keys = new TrustedKeys(List.of(signer.publicKey(), other.publicKey()));
        var e = assertThrows(
                SignatureRejectedException.class, () -> keys.verify(MESSAGE, stranger.sign(MESSAGE, COMMENT)));
        assertEquals("signed by minisign key " + stranger.publicKey().keyId() + ", which is not trusted (trusted: "
                + signer.publicKey().keyId() + ", " + other.publicKey().keyId() + ")", e.getMessage());
    }

    @Test
    void withNoKeysNothingIsTrusted() {
        var e = assertThrows(SignatureRejectedException.class,
                () -> new TrustedKeys(List.of()).verify(MESSAGE, signer.sign(MESSAGE, COMMENT)));
        assertTrue(e.getMessage().contains("no minisign public key is configured"), e.getMessage());
    }

    @Test
    void theSameKeyTwiceIsAConfigurationError() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> new TrustedKeys(List.of(signer.publicKey(), signer.publicKey())));
        assertEquals(signer.publicKey() + " is configured twice", e.getMessage());
    }

    static Stream<Arguments> malformedSignatures() {
        String valid = MinisignTestSigner.generate().sign(MESSAGE, COMMENT);
        List<String> lines = valid.lines().toList();
        return Stream.of(
                Arguments.of("garbage", "expected 4 lines, got 1"),
                Arguments.of("", "expected 4 lines, got 0"),
                Arguments.of(String.join("\n", lines.subList(0, 3)), "expected 4 lines, got 3"),
                Arguments.of(valid + "one line too many\n", "expected 4 lines, got 5"),
                Arguments.of(withLine(valid, 0, line -> "comment: x"),
                        "first line does not start with \"untrusted comment: \""),
                Arguments.of(withLine(valid, SIGNATURE_LINE, line -> "not*base64"),
                        "signature line is not valid base64"),
                Arguments.of(withDecodedLine(valid, SIGNATURE_LINE, bytes -> Arrays.copyOf(bytes, 73)),
                        "signature line decodes to 73 bytes, expected 74"),
                Arguments.of(withDecodedLine(valid, SIGNATURE_LINE, bytes -> withAlgorithm(bytes, "Xy")),
                        "unknown algorithm \"Xy\", expected \"ED\" or \"Ed\""),
                Arguments.of(withLine(valid, TRUSTED_COMMENT_LINE, line -> line.replace("trusted comment: ", "")),
                        "missing trusted comment: third line does not start with \"trusted comment: \""),
                Arguments.of(withLine(valid, GLOBAL_SIGNATURE_LINE, line -> "%%%"),
                        "global signature line is not valid base64"),
                Arguments.of(withDecodedLine(valid, GLOBAL_SIGNATURE_LINE, bytes -> Arrays.copyOf(bytes, 65)),
                        "global signature line decodes to 65 bytes, expected 64"));
    }

    @ParameterizedTest
    @MethodSource("malformedSignatures")
    void aMalformedSignatureIsRejectedSayingWhatIsWrong(String signatureFileText, String problem) {
        assertRejected(MESSAGE, signatureFileText, "not a minisign signature: " + problem);
    }

    @Test
    void aKeyIdIsPrintedAsMinisignPrintsIt() {
        var key = MinisignPublicKey.parse(MINISIGN_KEY_LINE);
        assertEquals("61B51CED2E019716", key.keyId());
        assertEquals("minisign key 61B51CED2E019716", key.toString());
        assertEquals("61B51CED2E019716",
                MinisignPublicKey.parse("untrusted comment: anything\n" + MINISIGN_KEY_LINE + "\n").keyId());
    }

    @Test
    void aKeyIdKeepsTheLeadingZerosMinisignDrops() {
        String keyLine = editDecoded(MINISIGN_KEY_LINE, bytes -> {
            System.arraycopy(new byte[] {1, 2, 3, 4, 5, 6, 7, 0}, 0, bytes, MinisignFormat.ALGORITHM_LENGTH_BYTES,
                    MinisignFormat.KEY_ID_LENGTH_BYTES);
            return bytes;
        });
        assertEquals("0007060504030201", MinisignPublicKey.parse(keyLine).keyId());
    }

    static Stream<Arguments> malformedKeys() {
        return Stream.of(
                Arguments.of("",
                        "expected the base64 key line, optionally after an untrusted comment line, but got 0 lines"),
                Arguments.of("comment\n" + MINISIGN_KEY_LINE, "first line does not start with \"untrusted comment: \""),
                Arguments.of("RWQ*", "key line is not valid base64"),
                Arguments.of(editDecoded(MINISIGN_KEY_LINE, bytes -> Arrays.copyOf(bytes, 41)),
                        "key line decodes to 41 bytes, expected 42"),
                Arguments.of(editDecoded(MINISIGN_KEY_LINE, bytes -> withAlgorithm(bytes, "ED")),
                        "algorithm is \"ED\", expected \"Ed\""),
                Arguments.of(editDecoded(MINISIGN_KEY_LINE, TrustedKeysTest::withKeyOffTheCurve),
                        "the key bytes are not an Ed25519 public key"));
    }

    @ParameterizedTest
    @MethodSource("malformedKeys")
    void aMalformedKeyIsRefusedSayingWhatIsWrong(String text, String problem) {
        var e = assertThrows(IllegalArgumentException.class, () -> MinisignPublicKey.parse(text));
        assertEquals("not a minisign public key: " + problem, e.getMessage());
    }

    @Nested
    class AgainstTheMinisignCli {
        private static final Path MINISIGN = Path.of("/usr/bin/minisign");
        private static final long TIMEOUT_SECONDS = 30;

        @TempDir
        Path dir;

        private Path pub;
        private Path file;

        @BeforeEach
        void requireMinisign() {
            assumeTrue(Files.isExecutable(MINISIGN), MINISIGN + " is not installed");
            pub = dir.resolve("minisign.pub");
            file = dir.resolve("SHA256SUMS");
        }

        @ParameterizedTest
        @ValueSource(booleans = {false, true})
        void aSignatureMadeByMinisignVerifies(boolean legacy) throws Exception {
            Path secret = dir.resolve("minisign.key");
            assertSucceeds(minisign("-G", "-W", "-p", pub.toString(), "-s", secret.toString()));
            Files.write(file, MESSAGE);
            var sign = new ArrayList<>(List.of("-S", "-s", secret.toString(), "-m", file.toString(), "-t", COMMENT));
            if (legacy) {
                sign.add("-l");
            }
            assertSucceeds(minisign(sign.toArray(String[]::new)));

            String pubText = Files.readString(pub);
            var key = MinisignPublicKey.parse(pubText);
            // minisign writes "untrusted comment: minisign public key <id>", without leading zeros.
            String comment = pubText.lines().findFirst().orElseThrow();
            String printedId = comment.substring(comment.lastIndexOf(' ') + 1);
            assertEquals(Long.parseUnsignedLong(printedId, 16), Long.parseUnsignedLong(key.keyId(), 16), pubText);
            String signature = Files.readString(dir.resolve("SHA256SUMS.minisig"));
            assertEquals(COMMENT, new TrustedKeys(List.of(key)).verify(MESSAGE, signature));
        }

        @ParameterizedTest
        @ValueSource(booleans = {false, true})
        void minisignAcceptsWhatTheTestSignerSigns(boolean legacy) throws Exception {
            writeSignedByTestSigner(MESSAGE, legacy);
            CliResult result = minisign("-V", "-p", pub.toString(), "-m", file.toString());
            assertSucceeds(result);
            assertTrue(result.output().contains("Trusted comment: " + COMMENT), result.output());
        }

        @Test
        void minisignRejectsWhatTheTestSignerSignedOnceAltered() throws Exception {
            writeSignedByTestSigner(MESSAGE, false);
            Files.write(file, "altered".getBytes(UTF_8));
            CliResult result = minisign("-V", "-p", pub.toString(), "-m", file.toString());
            assertTrue(result.exitCode() != 0, result.output());
        }

        private void writeSignedByTestSigner(byte[] message, boolean legacy) throws IOException {
            Files.writeString(pub, signer.publicKeyText());
            Files.write(file, message);
            Files.writeString(dir.resolve("SHA256SUMS.minisig"),
                    legacy ? signer.signLegacy(message, COMMENT) : signer.sign(message, COMMENT));
        }

        private CliResult minisign(String... args) throws IOException, InterruptedException {
            List<String> command = new ArrayList<>(List.of(MINISIGN.toString()));
            command.addAll(List.of(args));
            Process process = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
            process.getOutputStream().close();
            String output = new String(process.getInputStream().readAllBytes(), UTF_8);
            assertTrue(process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS), "minisign did not exit: " + command);
            return new CliResult(process.exitValue(), output);
        }

        private static void assertSucceeds(CliResult result) {
            assertEquals(0, result.exitCode(), result.output());
        }
    }

    private record CliResult(int exitCode, String output) {}

    @Nested
    class AgainstARealImageBuild {
        /** image-build's output for the test image; scripts/dev passes it. */
        private static final String IMAGE_DIR = System.getProperty("kelpie.it.imageDir", "");

        @Test
        void theBuildsChecksumsVerifyAgainstItsOwnKey() throws IOException {
            assumeTrue(!IMAGE_DIR.isBlank(), "no image given (-Dkelpie.imageDir=...; scripts/dev passes it)");
            Path build = Path.of(IMAGE_DIR);
            Path signature = build.resolve("SHA256SUMS.minisig");
            var key = MinisignPublicKey.parse(Files.readString(build.resolve("minisign.pub")));
            String comment = new TrustedKeys(List.of(key))
                    .verify(Files.readAllBytes(build.resolve("SHA256SUMS")), Files.readString(signature));
            assertTrue(comment.contains("0.0.0-test"), comment);
        }
    }

    private void assertRejected(byte[] message, String signatureFileText, String expectedMessage) {
        var e = assertThrows(SignatureRejectedException.class, () -> trusted.verify(message, signatureFileText));
        assertEquals(expectedMessage, e.getMessage());
    }

    private static String withLine(String text, int index, UnaryOperator<String> change) {
        List<String> lines = new ArrayList<>(text.lines().toList());
        lines.set(index, change.apply(lines.get(index)));
        return String.join("\n", lines) + "\n";
    }

    private static String withDecodedLine(String text, int index, UnaryOperator<byte[]> edit) {
        return withLine(text, index, line -> editDecoded(line, edit));
    }

    private static String editDecoded(String base64Line, UnaryOperator<byte[]> edit) {
        return Base64.getEncoder().encodeToString(edit.apply(Base64.getDecoder().decode(base64Line)));
    }

    private static byte[] withAlgorithm(byte[] decoded, String algorithm) {
        System.arraycopy(algorithm.getBytes(UTF_8), 0, decoded, 0, MinisignFormat.ALGORITHM_LENGTH_BYTES);
        return decoded;
    }

    /** No point of edwards25519 has y = 2 (the x² it would need is not a square mod p), so this decodes to no key. */
    private static byte[] withKeyOffTheCurve(byte[] decoded) {
        Arrays.fill(decoded, MinisignFormat.PAYLOAD_OFFSET_BYTES, decoded.length, (byte) 0);
        decoded[MinisignFormat.PAYLOAD_OFFSET_BYTES] = 2;
        return decoded;
    }
}
