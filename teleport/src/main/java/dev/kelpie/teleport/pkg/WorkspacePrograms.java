package dev.kelpie.teleport.pkg;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;

/**
 * Finds the programs in a checkpoint's workspace that were built for another CPU than the guest it lands on: a
 * checkpoint crosses architectures (its files are just bytes), but an ELF binary in it does not run on the other
 * one. The restore reports them rather than refusing: scripts, sources and data still move, and the user rebuilds.
 */
public final class WorkspacePrograms {

    /** Bytes of an ELF header up to and including {@code e_machine}. */
    private static final int ELF_MACHINE_END = 20;
    private static final int EI_DATA = 5;
    private static final int ELF_DATA_LITTLE_ENDIAN = 1;
    private static final int E_MACHINE_OFFSET = 18;

    private WorkspacePrograms() {}

    /** One program of another architecture: its path in the workspace and what it was built for. */
    public record ForeignProgram(String path, String arch) {}

    /**
     * Reads the (already checked) tar to its end.
     *
     * @param guestArch the architecture the workspace lands on
     * @throws InvalidPackageException when the bytes are not a tar
     */
    public static List<ForeignProgram> foreignTo(String guestArch, InputStream tar, String where) throws IOException {
        List<ForeignProgram> found = new ArrayList<>();
        try (UntrustedTar in = new UntrustedTar(tar, where + ": the workspace")) {
            TarArchiveEntry entry;
            while ((entry = in.nextEntry()) != null) {
                if (entry.isFile() && !entry.isLink() && entry.getSize() >= ELF_MACHINE_END) {
                    Optional<String> arch = elfArch(in.content().readNBytes(ELF_MACHINE_END));
                    if (arch.isPresent() && !arch.get().equals(guestArch)) {
                        found.add(new ForeignProgram(entry.getName().replaceFirst("^\\./", ""), arch.get()));
                    }
                }
            }
        }
        return List.copyOf(found);
    }

    /** The architecture of an ELF file from its first bytes, in Kelpie's names; empty when it is no ELF file. */
    static Optional<String> elfArch(byte[] header) {
        if (header.length < ELF_MACHINE_END || header[0] != 0x7f || header[1] != 'E' || header[2] != 'L'
                || header[3] != 'F') {
            return Optional.empty();
        }
        int lo = header[E_MACHINE_OFFSET] & 0xff;
        int hi = header[E_MACHINE_OFFSET + 1] & 0xff;
        int machine = header[EI_DATA] == ELF_DATA_LITTLE_ENDIAN ? lo | hi << 8 : hi | lo << 8;
        return Optional.of(switch (machine) {
            case 0x3e -> "x86_64";
            case 0xb7 -> "aarch64";
            case 0x03 -> "i386";
            case 0x28 -> "arm";
            case 0xf3 -> "riscv";
            default -> "ELF machine " + machine;
        });
    }
}
