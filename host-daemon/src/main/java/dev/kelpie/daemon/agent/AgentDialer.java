package dev.kelpie.daemon.agent;

import dev.kelpie.agent.v1.AgentGrpc;
import dev.kelpie.agent.v1.HealthRequest;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Dials an agent and proves the session with a {@code Health} call before handing the channel out.
 *
 * <p>On a virtio-serial port a new connection may first meet bytes of the previous session in either direction,
 * which breaks that HTTP/2 handshake; the agent then resyncs on the next client preface (ADR 0010). So each failed
 * attempt closes its channel and the next one starts a fresh HTTP/2 session, with exponential backoff, until the
 * deadline. Over vsock-backed or plain Unix sockets the first attempt normally succeeds.
 */
public final class AgentDialer implements AgentConnector {

    /** Waits between attempts; a test can make it instant or record the waits. */
    @FunctionalInterface
    public interface Sleeper {
        void sleep(Duration duration) throws InterruptedException;
    }

    static final Duration FIRST_BACKOFF = Duration.ofMillis(50);
    static final Duration MAX_BACKOFF = Duration.ofSeconds(1);
    /**
     * A live agent answers Health in milliseconds, and a handshake that meets leftovers fails at once; an attempt that
     * sees neither is waiting for a guest that is still booting. Giving up on it early is not free: its preface stays
     * queued in the port and costs the next attempt, so an attempt waits a while.
     */
    static final Duration ATTEMPT_TIMEOUT = Duration.ofSeconds(5);

    static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(5);

    private final UnixSocketChannels channels;
    private final Sleeper sleeper;

    public AgentDialer(UnixSocketChannels channels, Sleeper sleeper) {
        this.channels = channels;
        this.sleeper = sleeper;
    }

    /**
     * Closes a channel and waits until its connection is gone. A VMM's chardev serves one host connection at a time
     * and queues the next: a new session can only start once the old connection is really closed.
     */
    public static void close(ManagedChannel channel) throws InterruptedException {
        channel.shutdownNow();
        if (!channel.awaitTermination(CLOSE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AgentUnavailableException("the agent channel did not close within " + CLOSE_TIMEOUT.toMillis() + " ms", null);
        }
    }

    /**
     * Returns a channel whose session answered {@code Health}.
     *
     * @throws AgentUnavailableException when no attempt succeeded before {@code deadline}, with the last error
     */
    @Override
    public ManagedChannel dial(Path socket, Duration deadline) throws InterruptedException {
        long giveUpNanos = System.nanoTime() + deadline.toNanos();
        Duration backoff = FIRST_BACKOFF;
        int attempts = 0;
        while (true) {
            attempts++;
            ManagedChannel channel = channels.open(socket);
            try {
                long remainingMillis = Math.max(1, TimeUnit.NANOSECONDS.toMillis(giveUpNanos - System.nanoTime()));
                AgentGrpc.newBlockingStub(channel)
                        .withDeadlineAfter(Math.min(ATTEMPT_TIMEOUT.toMillis(), remainingMillis), TimeUnit.MILLISECONDS)
                        .health(HealthRequest.getDefaultInstance());
                return channel;
            } catch (StatusRuntimeException e) {
                close(channel);
                if (System.nanoTime() + backoff.toNanos() > giveUpNanos) {
                    throw new AgentUnavailableException("agent on " + socket + " did not answer after " + attempts
                            + " attempts in " + deadline.toMillis() + " ms: " + e.getStatus(), e);
                }
            }
            sleeper.sleep(backoff);
            backoff = backoff.multipliedBy(2).compareTo(MAX_BACKOFF) > 0 ? MAX_BACKOFF : backoff.multipliedBy(2);
        }
    }
}
