package dev.kelpie.daemon.hypervisor;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Finds the programs the daemon runs (qemu-system-*, socat) as a shell would, and where launchd hides them. */
public final class Executables {

    /** Homebrew's bin directories: launchd starts daemons with a PATH that has neither. */
    private static final List<String> HOMEBREW_BINS = List.of("/opt/homebrew/bin", "/usr/local/bin");

    private Executables() {}

    /**
     * {@code program} itself when it names a path, else the first executable of that name on the daemon's PATH or in
     * Homebrew's bin directories.
     */
    public static Optional<Path> find(String program) {
        if (program.contains(File.separator)) {
            Path given = Path.of(program);
            return Files.isExecutable(given) ? Optional.of(given.toAbsolutePath()) : Optional.empty();
        }
        String path = System.getenv("PATH");
        List<String> dirs = new ArrayList<>(path == null ? List.of() : List.of(path.split(File.pathSeparator)));
        dirs.addAll(HOMEBREW_BINS);
        for (String dir : dirs) {
            if (!dir.isEmpty()) {
                Path candidate = Path.of(dir, program);
                if (Files.isExecutable(candidate)) {
                    return Optional.of(candidate.toAbsolutePath());
                }
            }
        }
        return Optional.empty();
    }
}
