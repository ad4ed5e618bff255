package dev.kelpie.daemon.sandboxes;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The spec's env lies over an OCI image's Env; a sandbox on our own root has only its env as defaults. */
class ExecDefaultsTest {

    @Test
    void theSpecsEnvWinsOverTheImagesAndTheImageGivesDirectoryUserAndCommand() {
        SandboxOciImage oci = new SandboxOciImage("r/x:1", "sha256:" + "a".repeat(64), "r/x",
                Map.of("PATH", "/bin", "GREETING", "image"), "/srv", "app", List.of("/bin/sh"));
        ExecDefaults d = ExecDefaults.of(Map.of("GREETING", "spec"), oci);
        assertEquals(Map.of("PATH", "/bin", "GREETING", "spec"), d.env());
        assertEquals("/srv", d.cwd());
        assertEquals("app", d.user());
        assertEquals(List.of("/bin/sh"), d.command());
    }

    @Test
    void ourOwnRootHasNoDirectoryUserOrCommand() {
        assertEquals(new ExecDefaults(Map.of("A", "1"), "", "", List.of()), ExecDefaults.of(Map.of("A", "1"), null));
    }
}
