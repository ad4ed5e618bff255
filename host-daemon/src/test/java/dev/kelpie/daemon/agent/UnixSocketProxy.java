package dev.kelpie.daemon.agent;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Forwards a Unix socket to another, and can cut every connection at once — the way a crashed daemon or a dropped
 * host connection looks to the guest: the stream just ends, no HTTP/2 RST_STREAM ever arrives.
 */
final class UnixSocketProxy implements AutoCloseable {

    private static final int BUFFER_BYTES = 64 * 1024;

    final Path socket;
    private final Path target;
    private final ServerSocketChannel server;
    private final List<SocketChannel> open = new CopyOnWriteArrayList<>();
    private final Thread acceptor;

    UnixSocketProxy(Path socket, Path target) throws IOException {
        this.socket = socket;
        this.target = target;
        this.server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        this.acceptor = Thread.ofVirtual().start(this::acceptLoop);
    }

    private void acceptLoop() {
        while (server.isOpen()) {
            try {
                SocketChannel client = server.accept();
                SocketChannel upstream = SocketChannel.open(UnixDomainSocketAddress.of(target));
                open.add(client);
                open.add(upstream);
                Thread.ofVirtual().start(() -> pump(client, upstream));
                Thread.ofVirtual().start(() -> pump(upstream, client));
            } catch (IOException e) {
                return;
            }
        }
    }

    private void pump(SocketChannel from, SocketChannel to) {
        ByteBuffer buf = ByteBuffer.allocate(BUFFER_BYTES);
        try {
            while (from.read(buf) >= 0) {
                buf.flip();
                while (buf.hasRemaining()) {
                    to.write(buf);
                }
                buf.clear();
            }
        } catch (IOException e) {
            // One side is gone: the cut below closes the other.
        }
        closeQuietly(from);
        closeQuietly(to);
    }

    /** Closes every open connection in both directions. */
    void cutAll() {
        for (SocketChannel c : open) {
            closeQuietly(c);
        }
        open.clear();
    }

    private static void closeQuietly(SocketChannel c) {
        try {
            c.close();
        } catch (IOException ignored) {
            // Closing is all we want.
        }
    }

    @Override
    public void close() throws IOException, InterruptedException {
        server.close();
        cutAll();
        acceptor.join(5_000);
    }
}
