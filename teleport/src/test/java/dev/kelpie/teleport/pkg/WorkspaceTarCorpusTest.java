package dev.kelpie.teleport.pkg;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The corpus the guest agent's import runs too (guest-agent/tests/fixtures/workspace-tars, made by its generate.py):
 * the host refuses every hostile tar before a VM exists, and takes every accepted one, as the agent does.
 */
class WorkspaceTarCorpusTest {

    /** Maven runs tests in the module's directory; the corpus lives with the agent's tests. */
    static final Path CORPUS = Path.of("..", "guest-agent", "tests", "fixtures", "workspace-tars");

    static List<Path> tars(String kind) throws IOException {
        try (Stream<Path> files = Files.list(CORPUS.resolve(kind))) {
            List<Path> tars = files.filter(p -> p.toString().endsWith(".tar")).sorted().toList();
            assertFalse(tars.isEmpty(), "no corpus in " + CORPUS.resolve(kind).toAbsolutePath());
            return tars;
        }
    }

    @Test
    void everyHostileTarIsRefusedWithItsEntryNamed() throws IOException {
        for (Path tar : tars("hostile")) {
            byte[] bytes = Files.readAllBytes(tar);
            InvalidPackageException e = assertThrows(InvalidPackageException.class,
                    () -> WorkspaceTarCheck.check(new ByteArrayInputStream(bytes), "w"), tar.getFileName().toString());
            assertTrue(e.getMessage().contains("rejected: "), tar.getFileName() + ": " + e.getMessage());
        }
    }

    @Test
    void everyAcceptedTarIsTaken() throws IOException {
        for (Path tar : tars("accepted")) {
            WorkspaceTarCheck.check(new ByteArrayInputStream(Files.readAllBytes(tar)), tar.getFileName().toString());
        }
    }

    @Test
    void theChainOfIssue21IsNamed() throws IOException {
        byte[] bytes = Files.readAllBytes(CORPUS.resolve("hostile/chain-through-an-earlier-link.tar"));
        InvalidPackageException e = assertThrows(InvalidPackageException.class,
                () -> WorkspaceTarCheck.check(new ByteArrayInputStream(bytes), "w"));
        assertTrue(e.getMessage().contains("\"l2\" rejected: a symlink that points to a/l1/.., which resolves outside"),
                e.getMessage());
        byte[] reversed = Files.readAllBytes(CORPUS.resolve("hostile/chain-redirected-by-a-later-link.tar"));
        e = assertThrows(InvalidPackageException.class,
                () -> WorkspaceTarCheck.check(new ByteArrayInputStream(reversed), "w"));
        assertTrue(e.getMessage().contains("\"a/l1\" rejected: a symlink that it redirects the earlier symlink l2"),
                e.getMessage());
    }
}
