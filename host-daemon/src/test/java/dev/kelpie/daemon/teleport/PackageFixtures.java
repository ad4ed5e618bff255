package dev.kelpie.daemon.teleport;

import dev.kelpie.teleport.pkg.BaseImageRef;
import dev.kelpie.teleport.pkg.BlobNames;
import dev.kelpie.teleport.pkg.PackageKind;
import dev.kelpie.teleport.pkg.PackageManifest;
import dev.kelpie.teleport.pkg.PackageWriter;
import dev.kelpie.teleport.pkg.PlatformRef;
import dev.kelpie.teleport.pkg.SourceSandbox;
import dev.kelpie.teleport.store.PackageStore;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;

/** Real packages, written as a snapshot writes them, published straight into a store: no sandbox needed. */
public final class PackageFixtures {

    private PackageFixtures() {}

    /** A checkpoint package whose workspace blob holds {@code workspace} (random bytes stay their size compressed). */
    public static PackageManifest publish(PackageStore store, Path work, String id, byte[] workspace)
            throws IOException {
        try (PackageWriter writer = PackageWriter.create(work.resolve("fixture-" + id))) {
            writer.addCompressed(BlobNames.WORKSPACE, new ByteArrayInputStream(workspace));
            PackageManifest manifest = writer.finish(new PackageManifest(PackageManifest.FORMAT_VERSION, id,
                    PackageKind.CHECKPOINT, new BaseImageRef("1.2.3", "x86_64", "a".repeat(64), "b".repeat(64)),
                    new PlatformRef("qemu", "7.2.22", "microvm", "max"), 1_700_000_000_000L,
                    new SourceSandbox("sb1", 1, 256, 0, Map.of(), Map.of(), 0, 0, "/workspace", null), Map.of(), null));
            store.publish(id, writer.directory());
            return manifest;
        }
    }

    public static byte[] randomBytes(long seed, int length) {
        byte[] bytes = new byte[length];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    /** Damages the workspace blob of a package in a local store, in its middle, keeping its size. */
    public static void flipByteOfWorkspace(Path localStoreRoot, String id) throws IOException {
        Path blob = localStoreRoot.resolve(id).resolve(PackageStore.BLOBS_DIR).resolve(BlobNames.WORKSPACE);
        byte[] bytes = Files.readAllBytes(blob);
        bytes[bytes.length / 2] ^= 1;
        Files.write(blob, bytes);
    }
}
