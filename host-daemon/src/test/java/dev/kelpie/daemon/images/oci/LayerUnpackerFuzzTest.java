package dev.kelpie.daemon.images.oci;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kelpie.daemon.errors.KelpieException;
import dev.kelpie.teleport.store.FileTrees;
import dev.kelpie.teleport.testing.FuzzScratch;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * A layer's bytes match its digest, but the image is anyone's. Whatever a tar holds, applying it (twice, so that the
 * second pass walks through the links the first made) writes only inside the root, or fails with a
 * {@link KelpieException} saying why; a sibling canary directory stays empty and nothing appears beside the root.
 * Seeds: {@code LayerUnpackerFuzzTestInputs/} holds hostile tars (.. names, absolute and relative symlinks out, link
 * chains, hard links through symlinks).
 */
class LayerUnpackerFuzzTest {

    private static final long MAX_ROOT_BYTES = 8L << 20;
    private static FuzzScratch scratchDir;
    private static Path scratch;

    @BeforeAll
    static void createScratch() throws IOException {
        scratchDir = FuzzScratch.create("kelpie-fuzz-layer-unpacker");
        scratch = scratchDir.dir();
    }

    @AfterAll
    static void removeScratch() throws IOException {
        scratchDir.close();
    }

    @FuzzTest(maxDuration = "15s")
    void anyLayerStaysInsideTheRoot(byte[] input) throws IOException {
        Path dir = Files.createDirectory(scratch.resolve("input"));
        try {
            Path root = Files.createDirectory(dir.resolve("root"));
            Path canary = Files.createDirectory(dir.resolve("canary"));
            LayerUnpacker unpacker = new LayerUnpacker(root, MAX_ROOT_BYTES, "fuzzed");
            for (int pass = 0; pass < 2; pass++) {
                try {
                    unpacker.apply(new ByteArrayInputStream(input), "pass-" + pass);
                } catch (KelpieException refused) {
                    break;
                }
            }
            assertEquals(List.of("input"), names(scratch), "files appeared beside the input directory");
            assertEquals(List.of("canary", "root"), names(dir), "files appeared beside the root");
            assertEquals(List.of(), names(canary), "files appeared in the canary directory");
        } finally {
            FileTrees.delete(dir);
        }
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
