package dev.kelpie.daemon.api;

import dev.kelpie.daemon.errors.ErrorKind;
import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The data messages of a client stream as an input stream, with one message requested at a time: a fast client waits
 * for the reader instead of filling the daemon's heap. The first message must be the start message. A client that
 * sends nothing for the idle time while a message is wanted is timed out ({@link ClientIdleException}), so a silent
 * upload cannot hold its staging for ever.
 */
final class GrpcChunkInput extends InputStream {

    private static final Object END = new Object();

    private final ServerCallStreamObserver<?> call;
    private final Duration idle;
    private final BlockingQueue<Object> chunks = new LinkedBlockingQueue<>();
    private final CompletableFuture<String> start = new CompletableFuture<>();
    private ByteString current = ByteString.EMPTY;
    private int position;
    private boolean ended;

    GrpcChunkInput(ServerCallStreamObserver<?> call, Duration idle) {
        this.call = call;
        this.idle = idle;
        call.disableAutoRequest();
        call.request(1);
    }

    void start(String store) {
        if (!start.complete(store)) {
            fail(GrpcErrors.of(ErrorKind.BAD_REQUEST, "start may come only once, first"));
            return;
        }
        call.request(1);
    }

    void offer(ByteString data) {
        if (!start.isDone()) {
            start.completeExceptionally(GrpcErrors.of(ErrorKind.BAD_REQUEST, "the first Import message must be start (naming the store), not data"));
            return;
        }
        chunks.add(data);
    }

    void end() {
        start.completeExceptionally(GrpcErrors.of(ErrorKind.BAD_REQUEST, "the Import stream ended before its start"));
        chunks.add(END);
    }

    void fail(Throwable t) {
        start.completeExceptionally(t);
        chunks.add(t);
    }

    /** The reader gave up: later messages are dropped unread. */
    void abandon() {
        chunks.clear();
    }

    /** The store named by the start message. */
    String awaitStart() throws InterruptedException, ClientIdleException {
        try {
            return start.get(idle.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        } catch (TimeoutException e) {
            throw new ClientIdleException("Import", idle);
        }
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] bytes, int offset, int length) throws IOException {
        if (length == 0) {
            return 0;
        }
        while (position == current.size()) {
            if (ended) {
                return -1;
            }
            Object next;
            try {
                next = chunks.poll(idle.toMillis(), TimeUnit.MILLISECONDS);
                if (next == null) {
                    throw new ClientIdleException("Import", idle);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while waiting for the client");
            }
            if (next == END) {
                ended = true;
                return -1;
            }
            if (next instanceof Throwable t) {
                throw new IOException("the client's stream failed: " + t.getMessage(), t);
            }
            current = (ByteString) next;
            position = 0;
            call.request(1);
        }
        int n = Math.min(length, current.size() - position);
        current.substring(position, position + n).copyTo(bytes, offset);
        position += n;
        return n;
    }
}
