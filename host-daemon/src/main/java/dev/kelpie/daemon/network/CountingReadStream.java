package dev.kelpie.daemon.network;

import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.streams.ReadStream;
import java.util.function.LongConsumer;

/**
 * A stream that reports the size of every buffer passing through, for the egress byte counts; everything else
 * (pause, resume, end, errors) goes to the stream it wraps, so {@code pipeTo} keeps its flow control.
 */
final class CountingReadStream implements ReadStream<Buffer> {

    private final ReadStream<Buffer> source;
    private final LongConsumer count;

    CountingReadStream(ReadStream<Buffer> source, LongConsumer count) {
        this.source = source;
        this.count = count;
    }

    @Override
    public ReadStream<Buffer> exceptionHandler(Handler<Throwable> handler) {
        source.exceptionHandler(handler);
        return this;
    }

    @Override
    public ReadStream<Buffer> handler(Handler<Buffer> handler) {
        source.handler(handler == null ? null : buffer -> {
            count.accept(buffer.length());
            handler.handle(buffer);
        });
        return this;
    }

    @Override
    public ReadStream<Buffer> pause() {
        source.pause();
        return this;
    }

    @Override
    public ReadStream<Buffer> resume() {
        source.resume();
        return this;
    }

    @Override
    public ReadStream<Buffer> fetch(long amount) {
        source.fetch(amount);
        return this;
    }

    @Override
    public ReadStream<Buffer> endHandler(Handler<Void> endHandler) {
        source.endHandler(endHandler);
        return this;
    }
}
