package dev.kelpie.daemon.lifecycle;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/** Checks and prepares the API socket's path before the server binds it. */
public final class ApiSocketPath {

    /** {@code sizeof(sun_path)} is 104 on macOS (108 on Linux); the smaller one keeps configs portable. */
    static final int MAX_SOCKET_PATH_BYTES = 103;

    private ApiSocketPath() {}

    /** {@link #prepare(Path, String, String)} for the gRPC socket, {@code kelpie.api.socket}. */
    public static void prepare(Path socket) {
        prepare(socket, "API socket", "kelpie.api.socket");
    }

    /**
     * Makes sure the socket can be bound at {@code socket}: the path is short enough, its directory exists and is
     * writable, and a socket file left by a dead daemon is removed, while one that a live server still answers on is
     * left alone.
     *
     * @param what the socket's name in messages ("API socket")
     * @param key the setting that moves it
     * @throws DaemonStartupException naming the path and the problem
     */
    public static void prepare(Path socket, String what, String key) {
        Path absolute = socket.toAbsolutePath();
        int length = absolute.toString().getBytes(StandardCharsets.UTF_8).length;
        if (length > MAX_SOCKET_PATH_BYTES) {
            throw new DaemonStartupException(what + " path " + absolute + " is " + length
                    + " bytes; Unix sockets allow at most " + MAX_SOCKET_PATH_BYTES + " (set " + key + ")");
        }
        Path dir = absolute.getParent();
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new DaemonStartupException("cannot create the " + what + " directory " + dir + ": "
                    + StateDirectoryLock.describe(e) + " (set " + key + " to a writable location)", e);
        }
        if (!Files.isDirectory(dir) || !Files.isWritable(dir)) {
            throw new DaemonStartupException("cannot create the " + what + " " + absolute + ": directory " + dir
                    + " is not writable by this user (set " + key + " to a writable location)");
        }
        removeStaleSocket(absolute, what, key);
    }

    /** A socket file whose owner died refuses connections; one that accepts has a live owner we must not replace. */
    private static boolean acceptsConnections(Path socket) {
        try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            return probe.isConnected();
        } catch (IOException refused) {
            return false;
        }
    }

    private static void removeStaleSocket(Path socket, String what, String key) {
        try {
            BasicFileAttributes attrs = Files.readAttributes(socket, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (!attrs.isOther()) {
                throw new DaemonStartupException(what + " path " + socket
                        + " exists and is not a socket; refusing to replace it");
            }
            if (acceptsConnections(socket)) {
                throw new DaemonStartupException(what + " " + socket + " is in use by another live server"
                        + " (another kelpied with a different state directory?); stop it or set " + key);
            }
            Files.delete(socket);
        } catch (java.nio.file.NoSuchFileException absent) {
            // Nothing stale to remove.
        } catch (IOException e) {
            throw new DaemonStartupException("cannot remove the stale " + what + " " + socket + ": "
                    + StateDirectoryLock.describe(e), e);
        }
    }
}
