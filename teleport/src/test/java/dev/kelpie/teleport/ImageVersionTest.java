package dev.kelpie.teleport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.teleport.ImageVersion.Compatibility;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class ImageVersionTest {

    @Test
    void parsesAReleaseVersion() {
        ImageVersion v = ImageVersion.parse("1.4.2-20260115-a3f4d21");
        assertEquals(new ImageVersion(1, 4, 2, "20260115-a3f4d21"), v);
        assertEquals("1.4.2", v.release());
        assertEquals("1.4.2-20260115-a3f4d21", v.toString());
    }

    @Test
    void parsesABareAndADevVersion() {
        assertEquals(new ImageVersion(0, 1, 0, ""), ImageVersion.parse("0.1.0"));
        assertEquals("dev.3", ImageVersion.parse("2.0.10-dev.3").suffix());
    }

    @ParameterizedTest
    @ValueSource(strings = {"1.0", "1.0.0.0", "01.0.0", "1.0.0-", "1.0.0-a_b", "v1.0.0", " 1.0.0", "1.0.0 ",
            "1.0.0-20260115/a3f4d21", "99999999999.0.0"})
    void rejectsMalformedVersionsNamingTheText(String text) {
        InvalidImageVersionException e = assertThrows(InvalidImageVersionException.class, () -> ImageVersion.parse(text));
        assertTrue(e.getMessage().contains("'" + text + "'"), e.getMessage());
    }

    @Test
    void rejectsEmptyAndNull() {
        assertThrows(InvalidImageVersionException.class, () -> ImageVersion.parse(""));
        assertThrows(InvalidImageVersionException.class, () -> ImageVersion.parse(null));
    }

    @Test
    void checkpointGateAllowsOnlyPatchDifferences() {
        ImageVersion base = ImageVersion.parse("1.2.3-20260101-aaaaaaa");
        assertEquals(Compatibility.SAME_RELEASE, base.checkpointCompatibilityWith(ImageVersion.parse("1.2.3-20260202-bbbbbbb")));
        assertEquals(Compatibility.PATCH_DIFFERS, base.checkpointCompatibilityWith(ImageVersion.parse("1.2.5")));
        assertEquals(Compatibility.PATCH_DIFFERS, base.checkpointCompatibilityWith(ImageVersion.parse("1.2.0")));
        assertEquals(Compatibility.INCOMPATIBLE, base.checkpointCompatibilityWith(ImageVersion.parse("1.3.3")));
        assertEquals(Compatibility.INCOMPATIBLE, base.checkpointCompatibilityWith(ImageVersion.parse("2.2.3")));
    }

    @Test
    void ordersByNumbersThenBuildSuffix() {
        List<ImageVersion> sorted = List.of("1.10.0", "1.2.0-20260102-b", "1.2.0-20260101-a", "0.9.9").stream()
                .map(ImageVersion::parse).sorted().toList();
        assertEquals(List.of("0.9.9", "1.2.0-20260101-a", "1.2.0-20260102-b", "1.10.0"),
                sorted.stream().map(ImageVersion::toString).toList());
    }

    @Test
    void aHugeRejectedVersionIsNotEchoedWhole() {
        String huge = "x".repeat(100_000);
        var e = assertThrows(InvalidImageVersionException.class,
                () -> ImageVersion.parse(huge));
        assertTrue(e.getMessage().length() < 400, e.getMessage());
        assertTrue(e.getMessage().contains("(100000 characters)"), e.getMessage());
    }
}
