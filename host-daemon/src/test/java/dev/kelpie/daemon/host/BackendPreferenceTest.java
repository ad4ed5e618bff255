package dev.kelpie.daemon.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class BackendPreferenceTest {

    @Test
    void acceptsTheThreeNamesInAnyCase() {
        assertEquals(BackendPreference.LIBKRUN, BackendPreference.parse(" LibKrun "));
        assertEquals("qemu", BackendPreference.parse("qemu").configValue());
    }

    @Test
    void refusesAnythingElseNamingWhatIsAccepted() {
        var e = assertThrows(IllegalArgumentException.class, () -> BackendPreference.parse("firecracker"));
        assertEquals("kelpie.backend (--backend) must be auto, libkrun or qemu, not 'firecracker'", e.getMessage());
    }
}
