package dev.kelpie.teleport.pkg;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The symlinks an archive has created so far, and where each one leads once every symlink on its way is followed, as
 * the guest's kernel will follow them. A lexical check is not enough: {@code a/l1 -> ..} then {@code l2 -> a/l1/..}
 * looks inside the root letter by letter, yet resolves to the root's parent. And order does not protect: a symlink
 * created later can redirect one accepted earlier ({@code l2 -> a/l1/..} first, {@code a/l1 -> ..} after), so every
 * path a resolution walked through remembers the links that walked it, and a new symlink there re-checks them.
 *
 * <p>The guest agent's import applies the same rules (guest-agent/src/fs/symlinks.rs); both run the shared corpus in
 * guest-agent/tests/fixtures/hostile-tars.
 */
final class ArchiveSymlinks {

    /** As Linux's MAXSYMLINKS: a chain longer than this is refused as the kernel would refuse it (ELOOP). */
    static final int MAX_SYMLINK_HOPS = 40;

    private final Map<String, String> targets = new HashMap<>();
    /** Path → the symlinks whose resolution went through it. */
    private final Map<String, Set<String>> walkedBy = new HashMap<>();

    boolean isSymlink(String path) {
        return targets.containsKey(path);
    }

    /**
     * Adds (or replaces) the symlink at {@code path} (normalised, relative to the root) to {@code target}.
     *
     * @return why it is refused: its own target, or an earlier link it redirects, leads outside the root
     */
    Optional<String> add(String path, String target) {
        targets.put(path, target);
        Optional<String> own = check(path);
        return own.isPresent() ? own : recheckWalkers(path);
    }

    /**
     * A file now stands at {@code path}: if it replaced a symlink, links that went through it resolve anew.
     *
     * @return why an earlier link now leads outside the root
     */
    Optional<String> replacedByFile(String path) {
        return targets.remove(path) == null ? Optional.empty() : recheckWalkers(path);
    }

    private Optional<String> recheckWalkers(String path) {
        for (String earlier : List.copyOf(walkedBy.getOrDefault(path, Set.of()))) {
            if (!earlier.equals(path) && targets.containsKey(earlier)) {
                Optional<String> redirected = check(earlier);
                if (redirected.isPresent()) {
                    return Optional.of("it redirects the earlier symlink " + earlier + ", which " + redirected.get());
                }
            }
        }
        return Optional.empty();
    }

    private Optional<String> check(String link) {
        String target = targets.get(link);
        if (target.startsWith("/")) {
            return Optional.of("points to " + target + " outside the workspace");
        }
        Deque<String> resolved = new ArrayDeque<>(components(parentOf(link)));
        Deque<String> pending = new ArrayDeque<>(components(target));
        int hops = 0;
        while (!pending.isEmpty()) {
            String part = pending.pollFirst();
            if (part.equals(".")) {
                continue;
            }
            if (part.equals("..")) {
                if (resolved.pollLast() == null) {
                    return Optional.of("points to " + target + ", which resolves outside the workspace");
                }
                continue;
            }
            resolved.addLast(part);
            String here = String.join("/", resolved);
            walkedBy.computeIfAbsent(here, k -> new LinkedHashSet<>()).add(link);
            String next = targets.get(here);
            if (next == null || here.equals(link)) {
                continue;
            }
            if (++hops > MAX_SYMLINK_HOPS || next.startsWith("/")) {
                return Optional.of("points to " + target + ", which resolves through " + here + " -> " + next
                        + (next.startsWith("/") ? " outside the workspace" : " (too many levels of symlinks)"));
            }
            resolved.pollLast();
            List<String> expansion = components(next);
            for (int i = expansion.size() - 1; i >= 0; i--) {
                pending.addFirst(expansion.get(i));
            }
        }
        return Optional.empty();
    }

    private static List<String> components(String path) {
        List<String> parts = new ArrayList<>();
        for (String part : path.split("/")) {
            if (!part.isEmpty()) {
                parts.add(part);
            }
        }
        return parts;
    }

    private static String parentOf(String path) {
        int slash = path.lastIndexOf('/');
        return slash < 0 ? "" : path.substring(0, slash);
    }
}
