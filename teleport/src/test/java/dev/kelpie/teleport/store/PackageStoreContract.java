package dev.kelpie.teleport.store;

import static dev.kelpie.teleport.store.TestPackages.KIB_BYTES;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.teleport.store.TestPackages.TestPackage;
import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What every {@link PackageStore} does, run against each store by a subclass: the daemon treats stores as
 * interchangeable, so they must agree on every behaviour here, failures included.
 */
abstract class PackageStoreContract {

    static final String ID = "pkg-0001";
    static final int MANIFEST_CAP_BYTES = 64 * KIB_BYTES;

    @TempDir
    Path tmp;

    PackageStore store;

    /** A new, empty store with its own state under {@code workDir}. */
    abstract PackageStore newStore(Path workDir) throws IOException;

    /** A store whose every I/O fails (with anything but IllegalArgumentException). */
    abstract PackageStore storeThatCannotDoIo(Path workDir) throws IOException;

    /** Every file or object {@link #store} holds, including directories or scratch the store keeps for itself. */
    abstract List<String> storedEntries() throws IOException;

    /** Publishes through the seam that takes prepared content, so a test can make a blob fail partway. */
    abstract void publish(String id, PackageSource source) throws IOException;

    @BeforeEach
    void createStore() throws IOException {
        store = newStore(tmp.resolve("store"));
    }

    @Test
    void aPublishedPackageIsListedAndReadsBackByteEqual() throws IOException {
        TestPackage pkg = TestPackages.write(tmp.resolve("in"), 1);

        store.publish(ID, pkg.dir());

        assertEquals(List.of(ID), store.list());
        assertArrayEquals(pkg.manifest(), store.readManifest(ID, MANIFEST_CAP_BYTES).orElseThrow());
        for (Map.Entry<String, byte[]> blob : pkg.blobs().entrySet()) {
            try (InputStream in = store.openBlob(ID, blob.getKey())) {
                assertArrayEquals(blob.getValue(), in.readAllBytes(), blob.getKey());
            }
        }
    }

    @Test
    void thePackageDirectoryIsLeftAsItWas() throws IOException {
        TestPackage pkg = TestPackages.write(tmp.resolve("in"), 2);

        store.publish(ID, pkg.dir());

        assertArrayEquals(pkg.manifest(), Files.readAllBytes(pkg.dir().resolve(PackageStore.MANIFEST_NAME)));
        for (Map.Entry<String, byte[]> blob : pkg.blobs().entrySet()) {
            assertArrayEquals(blob.getValue(), Files.readAllBytes(pkg.dir().resolve("blobs").resolve(blob.getKey())));
        }
    }

    @Test
    void aPackageMayHaveNoBlobs() throws IOException {
        TestPackage pkg = TestPackages.write(tmp.resolve("in"), TestPackages.manifestFor(3), Map.of());

        store.publish(ID, pkg.dir());

        assertArrayEquals(pkg.manifest(), store.readManifest(ID, MANIFEST_CAP_BYTES).orElseThrow());
    }

    @Test
    void everyPublishedPackageIsListed() throws IOException {
        for (int i = 0; i < 3; i++) {
            store.publish("pkg-" + i, TestPackages.write(tmp.resolve("in-" + i), i).dir());
        }

        assertEquals(Set.of("pkg-0", "pkg-1", "pkg-2"), Set.copyOf(store.list()));
    }

    @Test
    void aManifestLongerThanTheCapIsRefused() throws IOException {
        byte[] manifest = TestPackages.randomBytes(4, 1000);
        store.publish(ID, TestPackages.write(tmp.resolve("in"), manifest, Map.of()).dir());

        PackageTooLargeException e = assertThrows(PackageTooLargeException.class, () -> store.readManifest(ID, 999));
        assertTrue(e.getMessage().contains("1000"), e.getMessage());
        assertArrayEquals(manifest, store.readManifest(ID, 1000).orElseThrow(), "a manifest of exactly the cap");
        assertThrows(IllegalArgumentException.class, () -> store.readManifest(ID, -1));
    }

    @Test
    void aMissingBlobIsNoSuchFile() throws IOException {
        store.publish(ID, TestPackages.write(tmp.resolve("in"), 5).dir());

        assertThrows(NoSuchFileException.class, () -> store.openBlob(ID, "not-there"));
        assertThrows(NoSuchFileException.class, () -> store.openBlob("no-such-package", "memory.zst"));
    }

    @Test
    void aMissingPackageIsEmptyNotAnError() throws IOException {
        assertTrue(store.readManifest("no-such-package", MANIFEST_CAP_BYTES).isEmpty());
        assertEquals(List.of(), store.list());
        assertFalse(store.delete("no-such-package"));
    }

    @Test
    void publishingAnExistingIdFailsAndLeavesTheOriginal() throws IOException {
        TestPackage original = TestPackages.write(tmp.resolve("original"), 6);
        store.publish(ID, original.dir());
        List<String> entriesBefore = storedEntries();

        TestPackage other = TestPackages.write(tmp.resolve("other"), 7);
        assertThrows(PackageExistsException.class, () -> store.publish(ID, other.dir()));

        assertArrayEquals(original.manifest(), store.readManifest(ID, MANIFEST_CAP_BYTES).orElseThrow());
        try (InputStream in = store.openBlob(ID, "memory.zst")) {
            assertArrayEquals(original.blobs().get("memory.zst"), in.readAllBytes());
        }
        assertEquals(entriesBefore, storedEntries());
    }

    @Test
    void aDeletedPackageIsGoneAndItsIdFree() throws IOException {
        TestPackage pkg = TestPackages.write(tmp.resolve("in"), 8);
        store.publish(ID, pkg.dir());

        assertTrue(store.delete(ID));

        assertEquals(List.of(), store.list());
        assertTrue(store.readManifest(ID, MANIFEST_CAP_BYTES).isEmpty());
        assertThrows(NoSuchFileException.class, () -> store.openBlob(ID, "memory.zst"));
        assertEquals(List.of(), storedEntries());
        assertFalse(store.delete(ID), "a second delete");
        store.publish(ID, pkg.dir());
        assertEquals(List.of(ID), store.list());
    }

    static Stream<String> badIds() {
        return Stream.of(null, "", "UPPER", "../escape", "a/b", ".staging", "-dash-first", "has.dot", "has space",
                "x".repeat(65));
    }

    static Stream<String> badBlobNames() {
        return Stream.of(null, "", "../manifest.json", "a/b", ".hidden", "Upper", "has space", "x".repeat(101));
    }

    @ParameterizedTest
    @MethodSource("badIds")
    void badIdsAreRefusedBeforeAnyIo(String badId) throws IOException {
        PackageStore unreachable = storeThatCannotDoIo(tmp.resolve("unreachable"));
        Path pkg = TestPackages.write(tmp.resolve("in"), 9).dir();

        assertRefused(() -> unreachable.publish(badId, pkg));
        assertRefused(() -> unreachable.readManifest(badId, MANIFEST_CAP_BYTES));
        assertRefused(() -> unreachable.openBlob(badId, "memory.zst"));
        assertRefused(() -> unreachable.delete(badId));
        assertRefused(() -> store.publish(badId, pkg));
        assertEquals(List.of(), storedEntries());
    }

    @ParameterizedTest
    @MethodSource("badBlobNames")
    void badBlobNamesAreRefusedBeforeAnyIo(String badName) throws IOException {
        PackageStore unreachable = storeThatCannotDoIo(tmp.resolve("unreachable"));

        assertRefused(() -> unreachable.openBlob(ID, badName));
    }

    @Test
    void aPackageDirectoryWithABadBlobNameIsRefusedBeforeAnyIo() throws IOException {
        Path pkg = TestPackages.write(tmp.resolve("in"), TestPackages.manifestFor(10),
                Map.of("fine", new byte[10], "Not Fine", new byte[10])).dir();
        PackageStore unreachable = storeThatCannotDoIo(tmp.resolve("unreachable"));

        assertRefused(() -> unreachable.publish(ID, pkg));
        IllegalArgumentException e = assertRefused(() -> store.publish(ID, pkg));
        assertTrue(e.getMessage().contains("Not Fine"), e.getMessage());
        assertEquals(List.of(), storedEntries());
    }

    @Test
    void symlinksInThePackageDirectoryAreRefused() throws IOException {
        Path outside = Files.write(tmp.resolve("secret"), new byte[] {1, 2, 3});
        Path linkedBlob = TestPackages.write(tmp.resolve("linked-blob"), 11).dir();
        Files.createSymbolicLink(linkedBlob.resolve("blobs").resolve("link"), outside);
        Path linkedManifest = TestPackages.write(tmp.resolve("linked-manifest"), TestPackages.manifestFor(12),
                Map.of()).dir();
        Files.move(linkedManifest.resolve(PackageStore.MANIFEST_NAME), tmp.resolve("real-manifest.json"));
        Files.createSymbolicLink(linkedManifest.resolve(PackageStore.MANIFEST_NAME), tmp.resolve("real-manifest.json"));
        Path linkedBlobsDir = TestPackages.write(tmp.resolve("linked-blobs-dir"), TestPackages.manifestFor(13),
                Map.of()).dir();
        Files.createSymbolicLink(linkedBlobsDir.resolve("blobs"), linkedBlob.resolve("blobs"));

        for (Path pkg : List.of(linkedBlob, linkedManifest, linkedBlobsDir)) {
            IOException e = assertThrows(IOException.class, () -> store.publish(ID, pkg), pkg.toString());
            assertTrue(e.getMessage().contains("symbolic link"), e.getMessage());
        }
        assertEquals(List.of(), store.list());
        assertEquals(List.of(), storedEntries());
    }

    @Test
    void aPublishThatFailsMidwayLeavesNothingBehind() throws IOException {
        PackageSource failing = new PackageSource(TestPackages.bytes(TestPackages.manifestFor(14)), List.of(
                new PackageSource.NamedContent("a-first",
                        TestPackages.bytes(TestPackages.randomBytes(14, 100 * KIB_BYTES))),
                new PackageSource.NamedContent("b-second", TestPackages.failingAfter(200 * KIB_BYTES, 50 * KIB_BYTES,
                        () -> {})),
                new PackageSource.NamedContent("c-third", TestPackages.bytes(new byte[10]))));

        IOException e = assertThrows(IOException.class, () -> publish(ID, failing));

        assertTrue(causes(e).anyMatch(c -> String.valueOf(c.getMessage()).contains("injected failure")),
                () -> "the cause is kept: " + e);
        assertEquals(List.of(), store.list());
        assertTrue(store.readManifest(ID, MANIFEST_CAP_BYTES).isEmpty());
        assertEquals(List.of(), storedEntries());
        store.publish(ID, TestPackages.write(tmp.resolve("in"), 14).dir());
        assertEquals(List.of(ID), store.list(), "the id is free after the failed publish");
    }

    @Test
    void aBlobThatShrinksDuringThePublishFailsIt() throws IOException {
        TestPackage pkg = TestPackages.write(tmp.resolve("in"), 15);
        PackageSource scanned = PackageSource.scan(pkg.dir());
        try (RandomAccessFile blob = new RandomAccessFile(pkg.dir().resolve("blobs/memory.zst").toFile(), "rw")) {
            blob.setLength(blob.length() / 2);
        }

        IOException e = assertThrows(IOException.class, () -> publish(ID, scanned));

        assertTrue(causes(e).anyMatch(c -> String.valueOf(c.getMessage()).contains("changed during the publish")),
                () -> "names the change: " + e);
        assertEquals(List.of(), store.list());
        assertEquals(List.of(), storedEntries());
    }

    static IllegalArgumentException assertRefused(Executable call) {
        return assertThrows(IllegalArgumentException.class, call);
    }

    static Stream<Throwable> causes(Throwable e) {
        return Stream.iterate(e, c -> c != null, Throwable::getCause);
    }
}
