package dev.kelpie.daemon.lifecycle;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ApiSocketPathTest {

    @TempDir
    Path tmp;

    @Test
    void createsMissingParentDirectories() {
        Path socket = tmp.resolve("run/kelpie/kelpied.sock");
        ApiSocketPath.prepare(socket);
        assertTrue(Files.isDirectory(socket.getParent()));
    }

    @Test
    void removesASocketNobodyListensOn() throws Exception {
        Path socket = tmp.resolve("stale.sock");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(socket));
        }
        assertTrue(Files.exists(socket), "closing a Unix server socket leaves its file, as kill -9 does");
        ApiSocketPath.prepare(socket);
        assertFalse(Files.exists(socket));
    }

    @Test
    void refusesToReplaceASocketThatALiveServerAnswersOn() throws Exception {
        Path socket = tmp.resolve("live.sock");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(socket));
            var e = assertThrows(DaemonStartupException.class, () -> ApiSocketPath.prepare(socket));
            assertTrue(e.getMessage().contains("in use by another live server"), e.getMessage());
            assertTrue(Files.exists(socket));
        }
    }

    @Test
    void refusesToReplaceARegularFile() throws Exception {
        Path file = Files.writeString(tmp.resolve("data.sock"), "precious");
        var e = assertThrows(DaemonStartupException.class, () -> ApiSocketPath.prepare(file));
        assertTrue(e.getMessage().contains("is not a socket"), e.getMessage());
        assertTrue(Files.readString(file).equals("precious"));
    }

    @Test
    void rejectsPathsLongerThanSocketsAllow() {
        Path socket = tmp.resolve("x".repeat(ApiSocketPath.MAX_SOCKET_PATH_BYTES)).resolve("s.sock");
        var e = assertThrows(DaemonStartupException.class, () -> ApiSocketPath.prepare(socket));
        assertTrue(e.getMessage().contains("Unix sockets allow at most 103"), e.getMessage());
        assertFalse(Files.exists(socket.getParent()), "nothing is created for a rejected path");
    }
}
