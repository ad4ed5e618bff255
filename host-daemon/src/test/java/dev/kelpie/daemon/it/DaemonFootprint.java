package dev.kelpie.daemon.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * What a running daemon holds, read from outside as an operator would: its live threads and open file descriptors
 * from /proc, and its heap after a full GC through jcmd.
 *
 * @param jarFds the descriptors of those that are jar files: Quarkus' class loader keeps the application's most
 *     recently used jars open (four of them, least recently used closed first), so which ones are open moves with the
 *     classes loaded last, whatever the daemon's own code does
 */
record DaemonFootprint(int threads, int fds, int jarFds, long heapBytes) {

    static DaemonFootprint of(long pid) throws IOException, InterruptedException {
        long heap = DaemonHeap.usedAfterGc(pid);
        return new DaemonFootprint(threads(pid), fds(pid), jarFds(pid), heap);
    }

    /** The descriptors the daemon's own code opens: sockets, pipes, epoll and timer fds, files it writes. */
    int fdsBesidesJars() {
        return fds - jarFds;
    }

    static int threads(long pid) {
        return entries(Path.of("/proc", Long.toString(pid), "task"));
    }

    static int fds(long pid) {
        return entries(Path.of("/proc", Long.toString(pid), "fd"));
    }

    static int jarFds(long pid) {
        return (int) fdTargets(pid).entrySet().stream().filter(e -> e.getKey().endsWith(".jar"))
                .mapToLong(Map.Entry::getValue).sum();
    }

    /** Live threads by name, digits folded ({@code vert.x-eventloop-thread-#}), to tell which pool grew. */
    static Map<String, Long> threadNames(long pid) {
        try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            return tasks.map(t -> comm(t).replaceAll("[0-9]+", "#"))
                    .collect(Collectors.groupingBy(n -> n, TreeMap::new, Collectors.counting()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Open file descriptors by what they point to (socket, pipe, anon_inode:[eventpoll], a path), counted. */
    static Map<String, Long> fdTargets(long pid) {
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            return fds.map(DaemonFootprint::target).collect(Collectors.groupingBy(n -> n, TreeMap::new,
                    Collectors.counting()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String comm(Path task) {
        try {
            return Files.readString(task.resolve("comm")).strip();
        } catch (IOException e) {
            return "(gone)";
        }
    }

    private static String target(Path fd) {
        try {
            return Files.readSymbolicLink(fd).toString().replaceAll("\\[[0-9]+]", "[#]");
        } catch (IOException e) {
            return "(gone)";
        }
    }

    private static int entries(Path dir) {
        try (Stream<Path> entries = Files.list(dir)) {
            return (int) entries.count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
