package dev.kelpie.teleport.store;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A store whose packages are sealed at rest (see {@link Seal}): whoever can write to a shared bucket but does not hold
 * the key can neither read a package nor make one this daemon accepts. Readers above it see plain packages and check
 * them as always; a broken seal is a {@link SealBrokenException}. Sealing sits outside the stores, so a local
 * directory and a bucket seal the same way.
 */
public final class SealedPackageStore implements PackageStore {

    /** A sealed manifest is base64 of the plain one plus a small envelope. */
    private static final int SEALED_MANIFEST_OVERHEAD_BYTES = 1024;

    private final PackageStore inner;
    private final Seal seal;

    public SealedPackageStore(PackageStore inner, SealKey key) {
        this.inner = inner;
        this.seal = new Seal(key);
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public boolean sealed() {
        return true;
    }

    @Override
    public String location() {
        return inner.location() + " (sealed)";
    }

    @Override
    public void publish(String id, Path packageDir) throws IOException {
        PackageIds.checkId(id);
        Path sealed = Files.createTempDirectory(packageDir.getParent(), ".sealed-");
        try {
            Path blobs = Files.createDirectory(sealed.resolve(BLOBS_DIR));
            Files.write(sealed.resolve(MANIFEST_NAME),
                    seal.sealManifest(Files.readAllBytes(packageDir.resolve(MANIFEST_NAME)), id));
            try (Stream<Path> files = Files.list(packageDir.resolve(BLOBS_DIR))) {
                for (Path blob : files.toList()) {
                    String name = PackageIds.checkBlobName(blob.getFileName().toString());
                    try (InputStream in = Files.newInputStream(blob);
                            OutputStream out = Files.newOutputStream(blobs.resolve(name))) {
                        seal.sealBlob(in, out, id, name);
                    }
                }
            }
            inner.publish(id, sealed);
        } finally {
            FileTrees.delete(sealed);
        }
    }

    @Override
    public List<String> list() throws IOException {
        return inner.list();
    }

    @Override
    public Optional<byte[]> readManifest(String id, int maxBytes) throws IOException {
        int sealedMax = (int) Math.min(Integer.MAX_VALUE - 8, (long) maxBytes * 4 / 3 + SEALED_MANIFEST_OVERHEAD_BYTES);
        Optional<byte[]> stored = inner.readManifest(id, sealedMax);
        if (stored.isEmpty()) {
            return stored;
        }
        byte[] plain = seal.openManifest(stored.get(), id);
        if (plain.length > maxBytes) {
            throw new PackageTooLargeException("package " + id + ": manifest of " + plain.length + " bytes exceeds "
                    + maxBytes);
        }
        return Optional.of(plain);
    }

    @Override
    public InputStream openBlob(String id, String blobName) throws IOException {
        InputStream sealed = inner.openBlob(id, blobName);
        try {
            return seal.openBlob(sealed, id, blobName);
        } catch (IOException | RuntimeException e) {
            sealed.close();
            throw e;
        }
    }

    @Override
    public boolean delete(String id) throws IOException {
        return inner.delete(id);
    }
}
