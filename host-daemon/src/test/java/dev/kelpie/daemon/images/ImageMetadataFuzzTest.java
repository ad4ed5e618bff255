package dev.kelpie.daemon.images;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.teleport.ImageVersion;
import java.nio.file.Path;
import java.util.List;

/**
 * An image's {@code metadata.json} comes from a local build directory or from a pulled archive, whose source may be
 * marked allow-unsigned. Whatever bytes it holds, {@link ImageMetadata#parse} returns checked metadata or throws
 * {@link InvalidImageException}: anything else escaping is a bug. Accepted metadata has a version of the image
 * grammar and names its boot files as plain names beside it, so resolving them never leaves the image directory.
 *
 * <p>Seeds: {@code ImageMetadataFuzzTestInputs/} holds the metadata.json of a minimal image as image-build writes
 * it. The dictionary steers file names toward the traversals that must fail.
 */
class ImageMetadataFuzzTest {

    private static final Path IMAGE_DIR = Path.of("/images/1.2.3/x86_64");

    private final ObjectMapper json = new ObjectMapper();
    private final ImageCompatibility compatibility = new ImageCompatibility();

    @FuzzTest(maxDuration = "10s")
    @DictionaryEntries({"\"../\"", "\"/\"", "\"..\"", "\"rootfs\"", "\"disk_template\"", "\"file\"", "\"size_mib\""})
    void anyMetadataIsBootableFromItsOwnDirectoryOrInvalid(byte[] metadata) {
        ImageMetadata parsed;
        try {
            parsed = ImageMetadata.parse(metadata, json, "fuzzed image");
        } catch (InvalidImageException refused) {
            return;
        }
        assertEquals(parsed.version(), ImageVersion.parse(parsed.version()).toString());
        BootImage boot = parsed.toBootImage(IMAGE_DIR, IMAGE_DIR::resolve);
        for (Path file : List.of(boot.kernel(), boot.rootfs(), boot.diskTemplate())) {
            assertEquals(IMAGE_DIR, file.normalize().getParent(), file + " is not beside metadata.json");
        }
        assertTrue(parsed.agentProtocolNumber() >= -1, "agent protocol " + parsed.agentProtocolNumber());
        try {
            compatibility.checkBootable(boot);
        } catch (IncompatibleImageException refused) {
            // Another arch or agent protocol: refused by its own documented exception.
        }
    }
}
