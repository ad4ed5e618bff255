package dev.kelpie.daemon.images.pull;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.github.luben.zstd.Zstd;
import dev.kelpie.daemon.images.DamagedImageException;
import dev.kelpie.daemon.images.cache.BlobHashing;
import dev.kelpie.daemon.images.cache.StagedFile;
import dev.kelpie.teleport.store.FileTrees;
import dev.kelpie.teleport.testing.FuzzScratch;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * An image archive is checked against signed checksums before it is unpacked, but a signed archive may still be
 * broken, and a source marked allow-unsigned vouches for nothing. Whatever it holds, {@link ImageArchive#extract}
 * stages plain files directly in the staging directory, each with the size and hash it reports, or throws
 * {@link DamagedImageException}; nothing is written beside the staging directory (a sibling canary stays empty) and
 * no symlink or subdirectory appears. The archive is a local file on a healthy disk, so an {@link IOException} here
 * could only be a broken archive reported as a failing disk: a bug too.
 *
 * <p>An input's first byte picks the layer: even, the rest is a tar that the test compresses with zstd; odd, the rest
 * is the archive file as is (mostly not zstd at all). Seeds: {@code ImageArchiveFuzzTestInputs/} holds small image
 * tars as image-build lays them out.
 */
class ImageArchiveFuzzTest {

    private static final String ARCHIVE_NAME = "archive.tar.zst";
    /** Every input creates and removes a few files: on tmpfs where the machine has one (see FuzzScratch). */
    private static FuzzScratch scratchDir;
    private static Path scratch;

    @BeforeAll
    static void createScratch() throws IOException {
        scratchDir = FuzzScratch.create("kelpie-fuzz-image-archive");
        scratch = scratchDir.dir();
    }

    @AfterAll
    static void removeScratch() throws IOException {
        scratchDir.close();
    }

    @FuzzTest(maxDuration = "15s")
    void anyArchiveStagesPlainFilesOrIsDamaged(byte[] input) throws IOException {
        if (input.length == 0) {
            return;
        }
        byte[] rest = Arrays.copyOfRange(input, 1, input.length);
        byte[] archiveBytes = (input[0] & 1) == 0 ? Zstd.compress(rest, 1) : rest;
        Path dir = Files.createDirectory(scratch.resolve("input"));
        try {
            Path archive = Files.write(dir.resolve(ARCHIVE_NAME), archiveBytes);
            Path staging = Files.createDirectory(dir.resolve("staging"));
            Path canary = Files.createDirectory(dir.resolve("canary"));
            List<StagedFile> staged;
            try {
                staged = ImageArchive.extract(archive, staging);
            } catch (DamagedImageException refused) {
                staged = null;
            }

            assertEquals(List.of("input"), names(scratch), "files appeared beside the input directory");
            assertEquals(List.of(ARCHIVE_NAME, "canary", "staging"), names(dir), "files appeared beside staging");
            assertEquals(List.of(), names(canary), "files appeared in the canary directory");
            try (Stream<Path> all = Files.list(staging)) {
                for (Path p : all.toList()) {
                    assertTrue(Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS), p + " is not a plain file");
                }
            }
            if (staged != null) {
                assertEquals(staged.stream().map(StagedFile::name).sorted().toList(), names(staging));
                for (StagedFile file : staged) {
                    assertEquals(staging.resolve(file.name()), file.path());
                    assertEquals(file.sizeBytes(), Files.size(file.path()), file.name() + " size");
                    MessageDigest digest = BlobHashing.newDigest();
                    BlobHashing.update(digest, file.path(), -1);
                    assertEquals(file.sha256(), BlobHashing.hex(digest), file.name() + " sha256");
                }
            }
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
