package dev.kelpie.daemon.api.server;

import dev.kelpie.daemon.netty.EventLoopWatchdog;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.kqueue.KQueue;
import io.netty.channel.kqueue.KQueueEventLoopGroup;
import io.netty.channel.kqueue.KQueueServerDomainSocketChannel;
import io.netty.channel.kqueue.KQueueServerSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.util.concurrent.TimeUnit;

/**
 * Netty's native transport for the API's listeners: epoll on Linux, kqueue on macOS, the only Netty transports that
 * serve AF_UNIX sockets. One acceptor thread and a few I/O threads carry every listener; calls themselves run on the
 * API server's executor, never on these threads.
 */
final class NativeTransport implements AutoCloseable {

    private static final int ACCEPTOR_THREADS = 1;
    /** I/O only (framing, TLS); two threads keep a burst on one connection from stalling the others. */
    private static final int MIN_IO_THREADS = 2;
    private static final long QUIET_PERIOD_MS = 0;
    private static final long CLOSE_TIMEOUT_MS = 5_000;

    final EventLoopGroup acceptors;
    final EventLoopGroup io;
    /** Whether {@link #io} is this transport's to close, or shared with the agent channels (see {@link #open}). */
    private final boolean ownsIo;
    final Class<? extends ServerChannel> domainSocketChannel;
    final Class<? extends ServerChannel> tcpChannel;
    /** Nothing may hold these threads (calls run on the server's executor): a loop held anyway is logged. */
    private final EventLoopWatchdog acceptorsWatchdog;
    private final EventLoopWatchdog ioWatchdog;

    private NativeTransport(EventLoopGroup acceptors, EventLoopGroup io, boolean ownsIo,
            Class<? extends ServerChannel> domainSocketChannel, Class<? extends ServerChannel> tcpChannel) {
        this.acceptors = acceptors;
        this.io = io;
        this.ownsIo = ownsIo;
        this.domainSocketChannel = domainSocketChannel;
        this.tcpChannel = tcpChannel;
        this.acceptorsWatchdog = EventLoopWatchdog.watch(acceptors);
        // A shared group is watched by its owner (UnixSocketChannels).
        this.ioWatchdog = ownsIo ? EventLoopWatchdog.watch(io) : null;
    }

    /** A transport with I/O threads of its own. */
    static NativeTransport open() {
        return open(null);
    }

    /**
     * @param sharedIo the agent channels' event loops (null: threads of its own), which then serve the API's
     *     connections too: a message relayed from an agent to a client is then often written by the thread that read
     *     it, instead of waking another thread per message; not closed by {@link #close}
     */
    static NativeTransport open(EventLoopGroup sharedIo) {
        int ioThreads = Math.max(MIN_IO_THREADS, Runtime.getRuntime().availableProcessors());
        if (Epoll.isAvailable()) {
            return new NativeTransport(new EpollEventLoopGroup(ACCEPTOR_THREADS, threads("kelpie-api-accept")),
                    sharedIo != null ? sharedIo : new EpollEventLoopGroup(ioThreads, threads("kelpie-api-io")),
                    sharedIo == null, EpollServerDomainSocketChannel.class, EpollServerSocketChannel.class);
        }
        if (KQueue.isAvailable()) {
            return new NativeTransport(new KQueueEventLoopGroup(ACCEPTOR_THREADS, threads("kelpie-api-accept")),
                    sharedIo != null ? sharedIo : new KQueueEventLoopGroup(ioThreads, threads("kelpie-api-io")),
                    sharedIo == null, KQueueServerDomainSocketChannel.class, KQueueServerSocketChannel.class);
        }
        throw new IllegalStateException("no Netty native transport to serve the API's Unix socket: epoll "
                + Epoll.unavailabilityCause() + "; kqueue " + KQueue.unavailabilityCause());
    }

    private static DefaultThreadFactory threads(String name) {
        return new DefaultThreadFactory(name, true);
    }

    @Override
    public void close() {
        acceptorsWatchdog.close();
        if (ioWatchdog != null) {
            ioWatchdog.close();
        }
        acceptors.shutdownGracefully(QUIET_PERIOD_MS, CLOSE_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        if (ownsIo) {
            io.shutdownGracefully(QUIET_PERIOD_MS, CLOSE_TIMEOUT_MS, TimeUnit.MILLISECONDS).syncUninterruptibly();
        }
    }
}
