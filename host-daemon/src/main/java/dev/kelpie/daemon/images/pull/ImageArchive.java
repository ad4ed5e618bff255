package dev.kelpie.daemon.images.pull;

import com.github.luben.zstd.ZstdIOException;
import com.github.luben.zstd.ZstdInputStream;
import dev.kelpie.daemon.images.DamagedImageException;
import dev.kelpie.daemon.images.ImageMetadata;
import dev.kelpie.daemon.images.cache.BlobHashing;
import dev.kelpie.daemon.images.cache.StagedFile;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * Unpacks an image archive ({@code kelpie-image-VERSION-ARCH.tar.zst}, as image-build writes it) into a staging
 * directory, hashing each file on the way. Only plain files with plain names are accepted: the archive's checksum is
 * signed, but a cache must not trust a name enough to write outside its directory. All-zero blocks are skipped
 * rather than written, so the 1 GiB disk template stays a few MiB on disk.
 */
public final class ImageArchive {

    /** Largest number of files an image has (kernel(s), rootfs, disk template, metadata) with room to grow. */
    private static final int MAX_FILES = 32;
    private static final int BLOCK_BYTES = 64 * 1024;

    private ImageArchive() {}

    /**
     * @throws DamagedImageException when the archive is not a tar.zst of plain files
     * @throws IOException when a staged file cannot be written
     */
    public static List<StagedFile> extract(Path archive, Path stagingDir) throws IOException {
        List<StagedFile> files = new ArrayList<>();
        Set<String> names = new HashSet<>();
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(archive));
                TarArchiveInputStream tar = new TarArchiveInputStream(new ZstdInputStream(raw))) {
            TarArchiveEntry entry;
            while ((entry = nextEntry(tar, archive)) != null) {
                String name = entry.getName().startsWith("./") ? entry.getName().substring(2) : entry.getName();
                if (entry.isDirectory() && name.isEmpty()) {
                    continue;
                }
                if (!entry.isFile() || !ImageMetadata.PLAIN_FILE_NAME.matcher(name).matches()) {
                    throw new DamagedImageException("image archive " + archive.getFileName() + " holds '"
                            + entry.getName() + "', which is not a plain file at the top level");
                }
                if (!names.add(name) || names.size() > MAX_FILES) {
                    throw new DamagedImageException("image archive " + archive.getFileName()
                            + (names.size() > MAX_FILES ? " holds more than " + MAX_FILES + " files" : " holds " + name + " twice"));
                }
                files.add(writeSparse(tar, archive, stagingDir.resolve(name), name, entry.getSize()));
            }
        } catch (ZstdIOException e) {
            throw damaged(archive, e);
        }
        return files;
    }

    /*
     * Reading the archive fails when its bytes are broken: a cut or corrupt tar header, a bad PAX record, zstd that
     * does not decode. The tar reader reports those as plain IOExceptions, which callers would take for a failing
     * disk and retry; the archive is a local file that was just hashed whole, so they are the archive's damage.
     */

    private static TarArchiveEntry nextEntry(TarArchiveInputStream tar, Path archive) {
        try {
            return tar.getNextEntry();
        } catch (IOException | IllegalArgumentException e) {
            throw damaged(archive, e);
        }
    }

    private static int readEntry(InputStream tar, byte[] block, Path archive) {
        try {
            return tar.readNBytes(block, 0, block.length);
        } catch (IOException e) {
            throw damaged(archive, e);
        }
    }

    private static DamagedImageException damaged(Path archive, Exception e) {
        return new DamagedImageException("image archive " + archive.getFileName() + " is not a valid tar.zst: "
                + e.getMessage());
    }

    private static StagedFile writeSparse(InputStream in, Path archive, Path target, String name, long sizeBytes)
            throws IOException {
        MessageDigest digest = BlobHashing.newDigest();
        byte[] block = new byte[BLOCK_BYTES];
        long written = 0;
        try (FileChannel out = FileChannel.open(target, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            while (true) {
                int n = readEntry(in, block, archive);
                if (n == 0) {
                    break;
                }
                digest.update(block, 0, n);
                if (!allZero(block, n)) {
                    out.write(ByteBuffer.wrap(block, 0, n), written);
                }
                written += n;
            }
            if (written != sizeBytes) {
                throw new DamagedImageException("image archive entry " + name + " ends after " + written + " of "
                        + sizeBytes + " bytes");
            }
            if (out.size() < written) { // a trailing hole still needs the file to have its length
                out.write(ByteBuffer.allocate(1), written - 1);
            }
        }
        return new StagedFile(name, target, written, BlobHashing.hex(digest));
    }

    private static boolean allZero(byte[] block, int length) {
        for (int i = 0; i < length; i++) {
            if (block[i] != 0) {
                return false;
            }
        }
        return true;
    }
}
