package dev.kelpie.daemon.hypervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.daemon.errors.InvalidRequestException;
import org.junit.jupiter.api.Test;

class GuestArchsTest {

    @Test
    void anEmptyAskGetsTheDefaultAndOnlyTheOtherArchIsEmulated() {
        GuestArchs archs = new GuestArchs("x86_64", "aarch64");
        assertEquals("aarch64", archs.resolve("", "spec.arch"));
        assertEquals("x86_64", archs.resolve("x86_64", "spec.arch"));
        assertTrue(archs.emulated("aarch64"));
        assertFalse(archs.emulated("x86_64"));
        assertEquals("x86_64", GuestArchs.of("x86_64").resolve("", "spec.arch"));
    }

    @Test
    void anUnknownArchIsABadRequestNamingTheFieldAndTheArchesThereAre() {
        InvalidRequestException e = assertThrows(InvalidRequestException.class,
                () -> GuestArchs.of("x86_64").resolve("arm64", "spec_overrides.arch"));
        assertEquals("spec_overrides.arch 'arm64' is not a guest architecture (supported: x86_64, aarch64)",
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new GuestArchs("x86_64", "sparc"));
    }
}
