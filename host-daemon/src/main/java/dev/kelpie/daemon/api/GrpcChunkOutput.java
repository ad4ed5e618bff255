package dev.kelpie.daemon.api;

import dev.kelpie.daemon.grpc.ReadySignal;
import io.grpc.stub.ServerCallStreamObserver;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.util.function.Function;

/**
 * An output stream that leaves as response messages of a server stream, sent only while the transport is ready: a
 * slow client slows the writer instead of filling the daemon's heap. Made in the service method, written from a
 * thread of its own once the method has returned (see {@link ReadySignal}); a cancelled call fails the next write.
 */
final class GrpcChunkOutput extends OutputStream {

    static final int CHUNK_BYTES = 256 * 1024;

    private final ServerCallStreamObserver<?> call;
    private final Function<byte[], ?> toMessage;
    private final ReadySignal ready;
    private final byte[] buffer = new byte[CHUNK_BYTES];
    private int filled;

    <T> GrpcChunkOutput(ServerCallStreamObserver<T> call, Function<byte[], T> toMessage) {
        this.call = call;
        this.toMessage = toMessage;
        this.ready = new ReadySignal(call);
        call.setOnCancelHandler(ready::wake);
    }

    @Override
    public void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] bytes, int offset, int length) throws IOException {
        while (length > 0) {
            int n = Math.min(length, CHUNK_BYTES - filled);
            System.arraycopy(bytes, offset, buffer, filled, n);
            filled += n;
            offset += n;
            length -= n;
            if (filled == CHUNK_BYTES) {
                send();
            }
        }
    }

    @Override
    public void flush() throws IOException {
        if (filled > 0) {
            send();
        }
    }

    @Override
    public void close() throws IOException {
        flush();
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private void send() throws IOException {
        try {
            ready.awaitReady(call::isCancelled);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while the client was not reading");
        }
        if (call.isCancelled()) {
            throw new IOException("the client cancelled the stream");
        }
        byte[] chunk = java.util.Arrays.copyOf(buffer, filled);
        ((ServerCallStreamObserver) call).onNext(toMessage.apply(chunk));
        filled = 0;
    }
}
