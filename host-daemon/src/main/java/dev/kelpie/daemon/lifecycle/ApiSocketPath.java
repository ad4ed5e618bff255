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

    /**
     * Makes sure the socket can be bound at {@code socket}: the path is short enough, its directory exists and is
     * writable, and a socket file left by a dead daemon is removed, while one that a live server still answers on is
     * left alone.
     *
     * @throws DaemonStartupException naming the path and the problem
     */
    public static void prepare(Path socket) {
        Path absolute = socket.toAbsolutePath();
        int length = absolute.toString().getBytes(StandardCharsets.UTF_8).length;
        if (length > MAX_SOCKET_PATH_BYTES) {
            throw new DaemonStartupException("API socket path " + absolute + " is " + length
                    + " bytes; Unix sockets allow at most " + MAX_SOCKET_PATH_BYTES + " (set kelpie.api.socket)");
        }
        Path dir = absolute.getParent();
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new DaemonStartupException("cannot create the API socket directory " + dir + ": "
                    + StateDirectoryLock.describe(e) + " (set kelpie.api.socket to a writable location)", e);
        }
        if (!Files.isDirectory(dir) || !Files.isWritable(dir)) {
            throw new DaemonStartupException("cannot create the API socket " + absolute + ": directory " + dir
                    + " is not writable by this user (set kelpie.api.socket to a writable location)");
        }
        removeStaleSocket(absolute);
    }

    /** A socket file whose owner died refuses connections; one that accepts has a live owner we must not replace. */
    private static boolean acceptsConnections(Path socket) {
        try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            return probe.isConnected();
        } catch (IOException refused) {
            return false;
        }
    }

    private static void removeStaleSocket(Path socket) {
        try {
            BasicFileAttributes attrs = Files.readAttributes(socket, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (!attrs.isOther()) {
                throw new DaemonStartupException("API socket path " + socket
                        + " exists and is not a socket; refusing to replace it");
            }
            if (acceptsConnections(socket)) {
                throw new DaemonStartupException("API socket " + socket + " is in use by another live server"
                        + " (another kelpied with a different state directory?); stop it or set kelpie.api.socket");
            }
            Files.delete(socket);
        } catch (java.nio.file.NoSuchFileException absent) {
            // Nothing stale to remove.
        } catch (IOException e) {
            throw new DaemonStartupException("cannot remove the stale API socket " + socket + ": "
                    + StateDirectoryLock.describe(e), e);
        }
    }
}
