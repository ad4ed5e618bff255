package dev.kelpie.daemon.hypervisor.qemu;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

/** A stand-in qemu binary that prints fixed output, exits with a fixed status and logs each run's arguments. */
final class FakeQemuBinary {

    private FakeQemuBinary() {}

    /** {@code dir/name}, logging one line of arguments per run to {@code dir/name.runs}. */
    static Path create(Path dir, String name, String output, int status) throws IOException {
        Path script = dir.resolve(name);
        Files.writeString(script, "#!/bin/sh\necho \"$@\" >> '" + dir.resolve(name + ".runs") + "'\nprintf '%s\\n' '"
                + output + "'\nexit " + status + "\n");
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
        return script;
    }

    /** The arguments of each run so far. */
    static List<String> runs(Path dir, String name) throws IOException {
        Path runs = dir.resolve(name + ".runs");
        return Files.exists(runs) ? Files.readAllLines(runs) : List.of();
    }
}
