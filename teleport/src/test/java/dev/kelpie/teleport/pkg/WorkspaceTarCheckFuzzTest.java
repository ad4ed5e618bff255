package dev.kelpie.teleport.pkg;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * A checkpoint's workspace tar is untrusted: {@link WorkspaceTarCheck#check} reads any bytes to their end and either
 * refuses the tar with {@link InvalidPackageException} or accepts it, and what it accepts never reaches outside the
 * root. That is checked here against the archive's final state, independently of the check's own incremental
 * bookkeeping: every symlink, with every symlink on its way followed, stays inside; no entry's path runs through a
 * symlink; no device, fifo or absolute or {@code ..} path. An {@link IOException} from bytes in memory could only be a
 * malformed tar reported as a failing disk: a bug too.
 *
 * <p>Seeds: {@code WorkspaceTarCheckFuzzTestInputs/} holds small workspace tars with directories, files, symlinks
 * and hard links.
 */
class WorkspaceTarCheckFuzzTest {

    private static final int MAX_HOPS = 40;

    @FuzzTest(maxDuration = "10s")
    void nothingAcceptedReachesOutsideTheRoot(byte[] tar) throws IOException {
        try {
            WorkspaceTarCheck.check(new ByteArrayInputStream(tar), "fuzzed workspace");
        } catch (InvalidPackageException refused) {
            return; // the documented refusal
        }
        Map<String, TarArchiveEntry> finalState = new HashMap<>();
        try (TarArchiveInputStream in = new TarArchiveInputStream(new ByteArrayInputStream(tar))) {
            TarArchiveEntry entry;
            while ((entry = in.getNextEntry()) != null) {
                String name = entry.getName();
                String path = String.join("/", parts(name));
                if (path.isEmpty()) {
                    continue; // the root itself: both importers skip it, whatever its type
                }
                assertTrue(!name.startsWith("/") && !(("/" + name + "/").contains("/../")), "accepted path " + name);
                assertTrue(!entry.isCharacterDevice() && !entry.isBlockDevice() && !entry.isFIFO(), "accepted " + name);
                finalState.put(path, entry);
            }
        }
        for (var e : finalState.entrySet()) {
            if (e.getValue().isSymbolicLink()) {
                assertInside(e.getKey(), e.getValue().getLinkName(), finalState);
            }
        }
    }

    /** Follows {@code link -> target} through the final state's symlinks, as the kernel would. */
    private static void assertInside(String link, String target, Map<String, TarArchiveEntry> state) {
        if (target.startsWith("/")) {
            fail("accepted " + link + " -> " + target);
        }
        Deque<String> resolved = new ArrayDeque<>(parts(link));
        resolved.pollLast();
        Deque<String> pending = new ArrayDeque<>(parts(target));
        for (int hops = 0; !pending.isEmpty(); ) {
            String part = pending.pollFirst();
            if (part.equals("..")) {
                if (resolved.pollLast() == null) {
                    fail("accepted " + link + " -> " + target + ", which resolves outside the root");
                }
                continue;
            }
            resolved.addLast(part);
            TarArchiveEntry here = state.get(String.join("/", resolved));
            if (here != null && here.isSymbolicLink() && !String.join("/", resolved).equals(link)) {
                if (++hops > MAX_HOPS) {
                    return; // the kernel stops with ELOOP: nothing is reached
                }
                if (here.getLinkName().startsWith("/")) {
                    fail("accepted " + link + " -> " + target + " through an absolute link");
                }
                resolved.pollLast();
                Deque<String> expansion = new ArrayDeque<>(parts(here.getLinkName()));
                while (!expansion.isEmpty()) {
                    pending.addFirst(expansion.pollLast());
                }
            }
        }
    }

    private static Deque<String> parts(String path) {
        Deque<String> parts = new ArrayDeque<>();
        for (String part : path.split("/")) {
            if (!part.isEmpty() && !part.equals(".")) {
                parts.addLast(part);
            }
        }
        return parts;
    }
}
