package dev.kelpie.teleport.pkg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kelpie.teleport.testing.FuzzScratch;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * A blob's stored bytes come from a store anyone with write access may have altered. {@link BlobExtractor} either
 * writes exactly the size the manifest promises, or throws {@link CorruptPackageException} and leaves no target;
 * nothing else may escape, and a blob never inflates past its claim on disk.
 *
 * <p>An input is a 4-byte header, then the stored bytes. The header picks what the manifest says about them:
 * byte 0 bit 0 set means zstd (else none), bit 1 set means the manifest's sha256 lies, bit 2 set means its size
 * lies; bytes 1-3 are the uncompressed size a zstd blob claims, capped at {@link #MAX_CLAIMED_BYTES} so that one
 * input costs milliseconds. Without the lies the hash matches, so the fuzzer reaches the decompressor instead of
 * stopping at the hash check. Seeds: {@code BlobExtractorFuzzTestInputs/} holds headers with real zstd frames.
 */
class BlobExtractorFuzzTest {

    private static final int HEADER_BYTES = 4;
    private static final int ZSTD_FLAG = 1;
    private static final int WRONG_HASH_FLAG = 2;
    private static final int WRONG_SIZE_FLAG = 4;
    private static final int MAX_CLAIMED_BYTES = 1024 * 1024;

    private static FuzzScratch scratch;

    @BeforeAll
    static void createScratch() throws IOException {
        scratch = FuzzScratch.create("kelpie-fuzz-blob");
    }

    @AfterAll
    static void removeScratch() throws IOException {
        scratch.close();
    }

    @FuzzTest(maxDuration = "10s")
    void anyBlobExtractsToItsClaimOrLeavesNoTarget(byte[] input) throws IOException {
        if (input.length < HEADER_BYTES) {
            return;
        }
        int flags = input[0];
        int claimedBytes = ((input[1] & 0xff) << 16 | (input[2] & 0xff) << 8 | (input[3] & 0xff)) % (MAX_CLAIMED_BYTES + 1);
        byte[] stored = Arrays.copyOfRange(input, HEADER_BYTES, input.length);
        boolean zstd = (flags & ZSTD_FLAG) != 0;
        boolean honest = (flags & (WRONG_HASH_FLAG | WRONG_SIZE_FLAG)) == 0;
        long sizeBytes = stored.length + ((flags & WRONG_SIZE_FLAG) != 0 ? 1 : 0);
        String sha256 = (flags & WRONG_HASH_FLAG) != 0 ? "0".repeat(64) : sha256Hex(stored);
        // The manifest's own rule: an uncompressed blob has one size.
        long uncompressedBytes = zstd ? claimedBytes : sizeBytes;
        BlobRef blob = new BlobRef("fuzzed.blob", sizeBytes, sha256, zstd ? BlobRef.ZSTD : BlobRef.NONE,
                uncompressedBytes);

        Path target = scratch.dir().resolve("target");
        try {
            BlobExtractor.extract(blob, new ByteArrayInputStream(stored), target, "fuzzed package");
            assertEquals(uncompressedBytes, Files.size(target), "extracted size");
            if (!zstd) {
                assertArrayEquals(stored, Files.readAllBytes(target));
            }
            assertTrue(honest, "a blob whose manifest lies was extracted");
        } catch (CorruptPackageException refused) {
            assertFalse(Files.exists(target), "a refused blob left its target behind");
        } finally {
            Files.deleteIfExists(target);
        }

        try {
            BlobExtractor.verify(blob, new ByteArrayInputStream(stored), "fuzzed package");
            assertTrue(honest, "a blob whose manifest lies was verified");
        } catch (CorruptPackageException refused) {
            assertFalse(honest, "an intact blob was refused: " + refused.getMessage());
        }
    }

    private static String sha256Hex(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
