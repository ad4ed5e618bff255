package dev.kelpie.daemon.hypervisor.libkrun;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.jboss.logging.Logger;

/**
 * A published port on libkrun: a listener on host loopback whose connections are piped into the Unix socket libkrun
 * serves for a listen-mode vsock port (ADR 0022 addendum), where the agent relays them to the guest's TCP port. Lives
 * as long as the runner; a connection that finds the socket missing (the guest's vsock device is not up yet) is
 * closed, as a refused port would be.
 */
final class LoopbackRelay implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(LoopbackRelay.class);
    private static final int BUFFER_BYTES = 64 * 1024;

    private final ServerSocketChannel server;
    private final Path socket;
    private final Set<SocketChannel> open = ConcurrentHashMap.newKeySet();

    private LoopbackRelay(ServerSocketChannel server, Path socket) {
        this.server = server;
        this.socket = socket;
    }

    /** Binds {@code 127.0.0.1:hostPort} and starts relaying into {@code socket}. */
    static LoopbackRelay open(int hostPort, Path socket) throws IOException {
        ServerSocketChannel server = ServerSocketChannel.open();
        try {
            server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), hostPort));
        } catch (IOException e) {
            server.close();
            throw new IOException("127.0.0.1:" + hostPort + ": " + e.getMessage(), e);
        }
        LoopbackRelay relay = new LoopbackRelay(server, socket);
        Thread.ofVirtual().name("publish-" + hostPort).start(relay::acceptLoop);
        return relay;
    }

    private void acceptLoop() {
        while (server.isOpen()) {
            try {
                SocketChannel client = server.accept();
                Thread.ofVirtual().start(() -> relay(client));
            } catch (IOException e) {
                if (server.isOpen()) {
                    LOG.debugf("published port %s: accept failed: %s", socket, e.getMessage());
                }
            }
        }
    }

    private void relay(SocketChannel client) {
        open.add(client);
        try (client; SocketChannel guest = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            open.add(guest);
            Thread up = Thread.ofVirtual().start(() -> copy(client, guest));
            copy(guest, client);
            up.join();
            open.remove(guest);
        } catch (IOException e) {
            LOG.debugf("published port %s: %s", socket, e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            open.remove(client);
        }
    }

    /** Copies until {@code from} ends, then half-closes {@code to}, so each direction ends on its own. */
    private static void copy(SocketChannel from, SocketChannel to) {
        ByteBuffer buffer = ByteBuffer.allocate(BUFFER_BYTES);
        try {
            while (from.read(buffer) >= 0) {
                buffer.flip();
                while (buffer.hasRemaining()) {
                    to.write(buffer);
                }
                buffer.clear();
            }
            to.shutdownOutput();
        } catch (IOException e) {
            closeQuietly(from);
            closeQuietly(to);
        }
    }

    @Override
    public void close() {
        closeQuietly(server);
        open.forEach(LoopbackRelay::closeQuietly);
    }

    private static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            // Closing is all that is left to do.
        }
    }
}
