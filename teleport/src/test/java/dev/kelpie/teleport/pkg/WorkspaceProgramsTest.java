package dev.kelpie.teleport.pkg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.Test;

class WorkspaceProgramsTest {

    /** The start of an aarch64 executable as the cross linker writes it: ELF64, little-endian, e_machine 0xb7. */
    private static final byte[] AARCH64_ELF = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0,
            (byte) 0xb7, 0, 1, 0, 0, 0};

    /** The JVM running this test: a real program of the host's architecture. */
    private static byte[] thisJava() throws IOException {
        Path java = Path.of(ProcessHandle.current().info().command().orElseThrow()).toRealPath();
        return Files.readAllBytes(java);
    }

    private static String hostArch() {
        return switch (System.getProperty("os.arch")) {
            case "amd64", "x86_64" -> "x86_64";
            default -> "aarch64";
        };
    }

    private static byte[] tar(Map<String, byte[]> files) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
            for (var f : files.entrySet()) {
                TarArchiveEntry entry = new TarArchiveEntry("./" + f.getKey());
                entry.setSize(f.getValue().length);
                tar.putArchiveEntry(entry);
                tar.write(f.getValue());
                tar.closeArchiveEntry();
            }
        }
        return out.toByteArray();
    }

    @Test
    void programsOfAnotherArchAreNamedWithTheirArchAndEverythingElseIsNot() throws IOException {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("bin/java", thisJava());
        files.put("bin/arm-tool", Arrays.copyOf(AARCH64_ELF, 4096));
        files.put("src/main.py", "print('ELF')\n".getBytes(StandardCharsets.UTF_8));
        files.put("tiny", new byte[] {0x7f, 'E', 'L', 'F'});
        byte[] workspace = tar(files);
        String host = hostArch();
        String other = host.equals("x86_64") ? "aarch64" : "x86_64";

        List<WorkspacePrograms.ForeignProgram> onOther =
                WorkspacePrograms.foreignTo(other, new ByteArrayInputStream(workspace), "p");
        List<WorkspacePrograms.ForeignProgram> onHost =
                WorkspacePrograms.foreignTo(host, new ByteArrayInputStream(workspace), "p");

        if (host.equals("x86_64")) {
            assertEquals(List.of(new WorkspacePrograms.ForeignProgram("bin/java", "x86_64")), onOther);
            assertEquals(List.of(new WorkspacePrograms.ForeignProgram("bin/arm-tool", "aarch64")), onHost);
        } else {
            assertEquals(List.of(), onHost);
            assertEquals(List.of(new WorkspacePrograms.ForeignProgram("bin/java", "aarch64"),
                    new WorkspacePrograms.ForeignProgram("bin/arm-tool", "aarch64")), onOther);
        }
    }

    @Test
    void bytesThatAreNoTarAreAnInvalidPackage() {
        byte[] garbage = new byte[1024];
        Arrays.fill(garbage, (byte) 'x');
        assertThrows(InvalidPackageException.class,
                () -> WorkspacePrograms.foreignTo("x86_64", new ByteArrayInputStream(garbage), "p"));
    }
}
