package dev.kelpie.daemon.agent;

import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import dev.kelpie.daemon.netty.EventLoopWatchdog;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.kqueue.KQueue;
import io.netty.channel.kqueue.KQueueDomainSocketChannel;
import io.netty.channel.kqueue.KQueueEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.unix.DomainSocketChannel;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Opens grpc-java channels to agents over Unix sockets, the one channel every backend maps the guest's vsock or
 * virtio-serial port to. Uses Netty's native epoll (Linux) or kqueue (macOS) transport, the only ones that speak
 * AF_UNIX; one small event loop group serves every channel (and the API's connections, see ApiServer).
 */
public final class UnixSocketChannels implements AutoCloseable {

    /** Agent messages are at most 1 MiB chunks plus framing; 4 MiB leaves headroom without inviting abuse. */
    static final int MAX_INBOUND_MESSAGE_BYTES = 4 * 1024 * 1024;
    /** The daemon serves its API on these loops too (ApiServer), so they are sized like its I/O threads were. */
    private static final int MIN_EVENT_LOOP_THREADS = 2;

    private final EventLoopGroup group;
    private final Class<? extends DomainSocketChannel> channelType;
    /** Exec's relay runs on these loops (StreamRelay.AGENT_CALLBACKS) and must never block them: a loop held is logged. */
    private final EventLoopWatchdog watchdog;

    public UnixSocketChannels() {
        int threads = Math.max(MIN_EVENT_LOOP_THREADS, Runtime.getRuntime().availableProcessors());
        if (Epoll.isAvailable()) {
            group = new EpollEventLoopGroup(threads);
            channelType = EpollDomainSocketChannel.class;
        } else if (KQueue.isAvailable()) {
            group = new KQueueEventLoopGroup(threads);
            channelType = KQueueDomainSocketChannel.class;
        } else {
            throw new IllegalStateException("no Netty native transport for Unix sockets: epoll "
                    + Epoll.unavailabilityCause() + "; kqueue " + KQueue.unavailabilityCause());
        }
        watchdog = EventLoopWatchdog.watch(group);
    }

    /** A plaintext channel to the socket; the file system permissions of the socket are the authentication. */
    public ManagedChannel open(Path socket) {
        return NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .eventLoopGroup(group)
                .channelType(channelType)
                .usePlaintext()
                // The agent does not check :authority; a fixed one keeps logs readable.
                .overrideAuthority("kelpie-agent")
                .maxInboundMessageSize(MAX_INBOUND_MESSAGE_BYTES)
                // No transparent retries on a fresh connection: on a virtio-serial port every abandoned connection
                // can leave a stale session behind in the guest (ADR 0010), so reconnecting is the dialer's decision.
                .disableRetry()
                .build();
    }

    /** The event loops every channel runs on, for a server that wants its connections on the same threads. */
    public EventLoopGroup eventLoops() {
        return group;
    }

    @Override
    public void close() {
        watchdog.close();
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
