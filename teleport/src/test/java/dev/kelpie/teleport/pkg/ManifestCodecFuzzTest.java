package dev.kelpie.teleport.pkg;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * Manifests come from stores other hosts write to and from imported archives, so {@link ManifestCodec#read} meets
 * arbitrary bytes. Whatever they are, it returns a manifest that passed its checks or throws
 * {@link InvalidPackageException}; anything else escaping (a NullPointerException, an ArithmeticException, a
 * StackOverflowError) is a bug, and so is an accepted manifest that does not read back the same once rewritten.
 *
 * <p>Seeds: {@code ManifestCodecFuzzTestInputs/} holds manifests as {@link PackageWriter} writes them.
 */
class ManifestCodecFuzzTest {

    private final ManifestCodec codec = new ManifestCodec();

    @FuzzTest(maxDuration = "10s")
    void anyBytesAreACheckedManifestOrInvalid(byte[] bytes) {
        PackageManifest manifest;
        try {
            manifest = codec.read(bytes, "fuzzed manifest");
        } catch (InvalidPackageException refused) {
            return;
        }
        assertEquals(manifest, codec.read(codec.write(manifest), "rewritten manifest"));
    }
}
