package dev.kelpie.teleport.pkg;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.ByteArrayInputStream;
import java.io.IOException;

/**
 * A checkpoint's workspace tar is untrusted: {@link WorkspaceTarCheck#check} reads any bytes to their end and either
 * counts the entries or refuses the tar with {@link InvalidPackageException}. The bytes come from memory, so an
 * {@link IOException} here could only be a malformed tar reported as a failing disk: a bug too.
 *
 * <p>Seeds: {@code WorkspaceTarCheckFuzzTestInputs/} holds small workspace tars with directories, files, symlinks
 * and hard links.
 */
class WorkspaceTarCheckFuzzTest {

    @FuzzTest(maxDuration = "10s")
    void anyTarIsCheckedOrRefusedAsInvalid(byte[] tar) throws IOException {
        try {
            long entries = WorkspaceTarCheck.check(new ByteArrayInputStream(tar), "fuzzed workspace");
            assertTrue(entries >= 0, "entries: " + entries);
        } catch (InvalidPackageException refused) {
            // The documented refusal.
        }
    }
}
