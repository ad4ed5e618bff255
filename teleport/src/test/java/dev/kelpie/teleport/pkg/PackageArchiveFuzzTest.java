package dev.kelpie.teleport.pkg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kelpie.teleport.store.FileTrees;
import dev.kelpie.teleport.testing.FuzzScratch;
import dev.kelpie.teleport.store.LocalPackageStore;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * An imported archive is untrusted bytes from a client. Imported the way the daemon imports (unpack into a work
 * directory, then publish into a {@link LocalPackageStore}), any archive either becomes one complete package that
 * reads back and verifies, or is refused with {@link InvalidPackageException} or {@link CorruptPackageException}
 * leaving the store empty. Either way nothing is written outside the work directory and the store, nothing is a
 * symlink, and a sibling canary directory stays empty. The bytes come from memory and the disk is healthy, so an
 * {@link IOException} here could only be a malformed archive reported as a failing disk: a bug too.
 *
 * <p>Seeds: {@code PackageArchiveFuzzTestInputs/} holds archives of a checkpoint and a vm package as
 * {@link PackageArchive#write} writes them.
 */
class PackageArchiveFuzzTest {

    private static FuzzScratch scratch;
    private final PackageReader reader = new PackageReader();

    @BeforeAll
    static void createScratch() throws IOException {
        scratch = FuzzScratch.create("kelpie-fuzz-archive");
    }

    @AfterAll
    static void removeScratch() throws IOException {
        scratch.close();
    }

    @FuzzTest(maxDuration = "20s")
    void anyArchiveImportsWhollyOrNotAtAllAndOnlyIntoTheStore(byte[] archive) throws IOException {
        Path input = Files.createDirectory(scratch.dir().resolve("input"));
        try {
            Path work = Files.createDirectory(input.resolve("work"));
            Path canary = Files.createDirectory(input.resolve("canary"));
            Path storeRoot = input.resolve("store");
            LocalPackageStore store = LocalPackageStore.open("fuzz", storeRoot);

            Optional<PackageManifest> imported = importArchive(archive, work.resolve("package"), store);

            assertEquals(List.of("input"), names(scratch.dir()), "files appeared beside the input directory");
            assertEquals(List.of("canary", "store", "work"), names(input), "files appeared beside the store");
            assertEquals(List.of(), names(canary), "files appeared in the canary directory");
            assertOnlyPlainFilesAndDirectories(input);
            assertEquals(imported.map(PackageManifest::id).stream().toList(), store.list(), "published packages");
            for (String id : store.list()) {
                PackageReader.StoredManifest stored = reader.readManifest(store, id);
                reader.verifyAll(store, stored.manifest());
            }
        } finally {
            FileTrees.delete(input);
        }
    }

    /** What the daemon's import does: unpack and verify in a work directory, then publish under the manifest's id. */
    private static Optional<PackageManifest> importArchive(byte[] archive, Path dir, LocalPackageStore store)
            throws IOException {
        PackageManifest manifest;
        try {
            manifest = PackageArchive.unpack(new ByteArrayInputStream(archive), dir, "fuzzed archive");
        } catch (InvalidPackageException | CorruptPackageException refused) {
            return Optional.empty();
        }
        store.publish(manifest.id(), dir);
        return Optional.of(manifest);
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static void assertOnlyPlainFilesAndDirectories(Path root) throws IOException {
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.toList()) {
                assertTrue(Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)
                        || Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS), p + " is neither a file nor a directory");
            }
        }
    }
}
