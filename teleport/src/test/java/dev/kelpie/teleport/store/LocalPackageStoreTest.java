package dev.kelpie.teleport.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.teleport.store.TestPackages.TestPackage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class LocalPackageStoreTest extends PackageStoreContract {

    /** Generous: two cores shared with other builds. */
    private static final long RACE_DEADLINE_SECONDS = 120;
    private static final int RACERS = 4;

    private Path root;

    @Override
    PackageStore newStore(Path workDir) throws IOException {
        root = workDir;
        return LocalPackageStore.open("local", workDir);
    }

    @Override
    PackageStore storeThatCannotDoIo(Path workDir) throws IOException {
        PackageStore unusable = LocalPackageStore.open("unusable", workDir);
        // A file where the root directory was: every path under it now fails with NotDirectoryException.
        Files.delete(workDir.resolve(LocalPackageStore.STAGING_DIR));
        Files.delete(workDir);
        Files.write(workDir, new byte[0]);
        return unusable;
    }

    /** Files and directories under the root, except the (empty) staging directory itself. */
    @Override
    List<String> storedEntries() throws IOException {
        Path staging = root.resolve(LocalPackageStore.STAGING_DIR);
        try (Stream<Path> paths = Files.walk(root)) {
            return paths.filter(p -> !p.equals(root) && !p.equals(staging)).map(p -> root.relativize(p).toString())
                    .sorted().toList();
        }
    }

    @Override
    void publish(String id, PackageSource source) throws IOException {
        ((LocalPackageStore) store).publish(id, source);
    }

    @Test
    void aPackageIsItsDirectoryWithAManifestAndBlobs() throws IOException {
        TestPackage pkg = TestPackages.write(tmp.resolve("in"), 20);

        store.publish(ID, pkg.dir());

        assertArrayEquals(pkg.manifest(), Files.readAllBytes(root.resolve(ID).resolve("manifest.json")));
        assertArrayEquals(pkg.blobs().get("memory.zst"),
                Files.readAllBytes(root.resolve(ID).resolve("blobs/memory.zst")));
        assertEquals(List.of(ID, ID + "/blobs", ID + "/blobs/disk-0.qcow2", ID + "/blobs/empty",
                ID + "/blobs/memory.zst", ID + "/manifest.json"), storedEntries());
    }

    @Test
    void openingRemovesWhatACrashLeftBehind() throws IOException {
        store.publish(ID, TestPackages.write(tmp.resolve("in"), 21).dir());
        Path halfPublished = Files.createDirectories(root.resolve(".staging/pkg-2.0123456789abcdef/blobs"));
        Files.write(halfPublished.resolve("memory.zst"), new byte[100]);
        Path halfDeleted = Files.createDirectories(root.resolve("pkg-3/blobs"));
        Files.write(halfDeleted.resolve("memory.zst"), new byte[100]);

        PackageStore reopened = LocalPackageStore.open("local", root);

        assertEquals(List.of(ID), reopened.list());
        List<String> left = storedEntries();
        assertTrue(left.stream().allMatch(e -> e.startsWith(ID)), () -> "left: " + left);
    }

    @Test
    void listingSkipsDotDirectoriesStrayFilesAndDirectoriesWithoutAManifest() throws IOException {
        store.publish(ID, TestPackages.write(tmp.resolve("in"), 22).dir());
        Files.createDirectories(root.resolve(".trash/" + "pkg-9"));
        Files.write(root.resolve(".trash/pkg-9/manifest.json"), new byte[2]);
        Files.createDirectories(root.resolve("no-manifest/blobs"));
        Files.write(root.resolve("stray-file"), new byte[2]);
        Files.createDirectories(root.resolve("Not An Id"));
        Files.write(root.resolve("Not An Id/manifest.json"), new byte[2]);

        assertEquals(List.of(ID), store.list());
    }

    @Test
    void racingPublishesOfOneIdHaveExactlyOneWinner() throws Exception {
        List<TestPackage> packages = new ArrayList<>();
        for (int i = 0; i < RACERS; i++) {
            packages.add(TestPackages.write(tmp.resolve("racer-" + i), 30 + i));
        }
        CountDownLatch start = new CountDownLatch(1);
        List<Future<?>> results = new ArrayList<>();
        try (ExecutorService racers = Executors.newFixedThreadPool(RACERS)) {
            for (TestPackage pkg : packages) {
                results.add(racers.submit(() -> {
                    start.await();
                    store.publish(ID, pkg.dir());
                    return null;
                }));
            }
            start.countDown();
            List<TestPackage> winners = new ArrayList<>();
            for (int i = 0; i < RACERS; i++) {
                try {
                    results.get(i).get(RACE_DEADLINE_SECONDS, TimeUnit.SECONDS);
                    winners.add(packages.get(i));
                } catch (ExecutionException e) {
                    assertInstanceOf(PackageExistsException.class, e.getCause());
                }
            }

            assertEquals(1, winners.size(), "winners");
            assertArrayEquals(winners.getFirst().manifest(), store.readManifest(ID, MANIFEST_CAP_BYTES).orElseThrow());
            try (Stream<Path> staged = Files.list(root.resolve(LocalPackageStore.STAGING_DIR))) {
                assertEquals(List.of(), staged.toList(), "the losers' staging directories are gone");
            }
        }
    }
}
