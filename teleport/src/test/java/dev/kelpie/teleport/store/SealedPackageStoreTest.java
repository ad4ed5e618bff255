package dev.kelpie.teleport.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.teleport.pkg.InvalidPackageException;
import dev.kelpie.teleport.pkg.PackageReader;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Base64;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Sealing over a real local store: what opens, and every way a sealed package can be altered. */
class SealedPackageStoreTest {

    private static final String ID = "pkg-sealed";
    private static final String BLOB = "vm-memory.zst";

    @TempDir
    Path tmp;
    private LocalPackageStore plain;
    private SealedPackageStore sealed;
    private byte[] blob;
    private byte[] manifest;

    @BeforeEach
    void publish() throws IOException {
        plain = LocalPackageStore.open("shared", tmp.resolve("store"));
        sealed = new SealedPackageStore(plain, key(1));
        blob = new byte[(int) (2.5 * Seal.CHUNK_BYTES)];
        new Random(7).nextBytes(blob);
        manifest = "{\"id\":\"pkg-sealed\",\"note\":\"plain manifest bytes\"}".getBytes(StandardCharsets.UTF_8);
        Path dir = Files.createDirectories(tmp.resolve("staging/package/blobs")).getParent();
        Files.write(dir.resolve(PackageStore.MANIFEST_NAME), manifest);
        Files.write(dir.resolve("blobs").resolve(BLOB), blob);
        sealed.publish(ID, dir);
    }

    private static SealKey key(int seed) {
        byte[] raw = new byte[SealKey.KEY_BYTES];
        new Random(seed).nextBytes(raw);
        return new SealKey(raw);
    }

    private Path storedBlob() {
        return tmp.resolve("store").resolve(ID).resolve("blobs").resolve(BLOB);
    }

    private byte[] readBlob(PackageStore store) throws IOException {
        try (InputStream in = store.openBlob(ID, BLOB)) {
            return in.readAllBytes();
        }
    }

    @Test
    void whatWasSealedOpensByteForByteAndIsUnreadableWithoutTheKey() throws IOException {
        assertArrayEquals(manifest, sealed.readManifest(ID, 1 << 20).orElseThrow());
        assertArrayEquals(blob, readBlob(sealed));
        byte[] atRest = Files.readAllBytes(storedBlob());
        assertFalse(new String(atRest, StandardCharsets.ISO_8859_1).contains("plain manifest bytes"));
        int header = 8 + 16 + 12 + 4;
        assertFalse(Arrays.equals(Arrays.copyOfRange(blob, 0, 64), Arrays.copyOfRange(atRest, header, header + 64)),
                "no plaintext at rest");
        assertFalse(new String(plain.readManifest(ID, 1 << 20).orElseThrow(), StandardCharsets.UTF_8)
                .contains("plain manifest bytes"));
    }

    @Test
    void aPlainStoreReaderIsToldThePackageIsSealed() throws IOException {
        var e = assertThrows(InvalidPackageException.class, () -> new PackageReader().readManifest(plain, ID));
        assertTrue(e.getMessage().contains("sealed"), e.getMessage());
    }

    @Test
    void anotherKeyIsNamedNotMistakenForDamage() {
        SealedPackageStore other = new SealedPackageStore(plain, key(2));
        var e = assertThrows(SealBrokenException.class, () -> other.readManifest(ID, 1 << 20));
        assertTrue(e.getMessage().contains(key(1).id()) && e.getMessage().contains(key(2).id()), e.getMessage());
        assertThrows(SealBrokenException.class, () -> readBlob(other));
    }

    @Test
    void aFlippedBitAnywhereBreaksTheSeal() throws IOException {
        byte[] atRest = Files.readAllBytes(storedBlob());
        for (int at : new int[] {40, atRest.length / 2, atRest.length - 1}) {
            byte[] altered = atRest.clone();
            altered[at] ^= 0x20;
            Files.write(storedBlob(), altered);
            assertThrows(SealBrokenException.class, () -> readBlob(sealed), "flip at " + at);
        }
        Path manifestFile = tmp.resolve("store").resolve(ID).resolve(PackageStore.MANIFEST_NAME);
        String text = Files.readString(manifestFile);
        int at = text.indexOf("\"ciphertext\":\"") + 20;
        char c = text.charAt(at);
        Files.writeString(manifestFile, text.substring(0, at) + (c == 'A' ? 'B' : 'A') + text.substring(at + 1));
        assertThrows(SealBrokenException.class, () -> sealed.readManifest(ID, 1 << 20));
    }

    @Test
    void droppedReorderedOrAppendedChunksBreakTheSeal() throws IOException {
        byte[] atRest = Files.readAllBytes(storedBlob());
        int header = 8 + 16 + 12;
        int chunk = 4 + Seal.CHUNK_BYTES + 16;
        byte[] withoutLast = Arrays.copyOf(atRest, header + 2 * chunk);
        byte[] swapped = atRest.clone();
        System.arraycopy(atRest, header + chunk, swapped, header, chunk);
        System.arraycopy(atRest, header, swapped, header + chunk, chunk);
        byte[] appended = Arrays.copyOf(atRest, atRest.length + 10);
        for (byte[] altered : new byte[][] {withoutLast, swapped, appended}) {
            Files.write(storedBlob(), altered);
            assertThrows(SealBrokenException.class, () -> readBlob(sealed));
        }
    }

    @Test
    void aKeyFileMustHoldThirtyTwoBytesOfBase64() throws IOException {
        Path good = Files.writeString(tmp.resolve("good.key"), Base64.getEncoder().encodeToString(new byte[32]) + "\n");
        assertEquals(16, SealKey.read(good).id().length());
        Path shortKey = Files.writeString(tmp.resolve("short.key"), Base64.getEncoder().encodeToString(new byte[16]));
        assertThrows(IllegalArgumentException.class, () -> SealKey.read(shortKey));
        Path notBase64 = Files.writeString(tmp.resolve("bad.key"), "not base64 at all!");
        assertThrows(IllegalArgumentException.class, () -> SealKey.read(notBase64));
    }
}
