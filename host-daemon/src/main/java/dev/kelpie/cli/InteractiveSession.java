package dev.kelpie.cli;

import com.google.protobuf.ByteString;
import dev.kelpie.api.v1.ProcessEvent;
import dev.kelpie.api.v1.ProcessInput;
import dev.kelpie.api.v1.TerminalSize;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.InputStream;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.function.Function;

/**
 * A bidi process stream wired to this terminal: stdin goes in, output comes out, the exit code comes back. With a
 * TTY the local terminal is in raw mode for the session (restored however it ends) and resizes are forwarded.
 */
final class InteractiveSession {

    private static final int STDIN_CHUNK_BYTES = 32 * 1024;

    private final boolean tty;

    InteractiveSession(boolean tty) {
        this.tty = tty;
    }

    /**
     * @param open starts the call with a response observer and returns the request stream
     * @param start the first message
     * @param wrap a request carrying input
     * @param eventOf the process event in a response
     */
    <Q, R> int run(Function<StreamObserver<R>, StreamObserver<Q>> open, Q start, Function<ProcessInput, Q> wrap,
            Function<R, ProcessEvent> eventOf) throws Exception {
        CompletableFuture<Integer> exit = new CompletableFuture<>();
        StreamObserver<Q> requests = open.apply(new StreamObserver<>() {
            @Override
            public void onNext(R response) {
                OptionalInt code = ProcessOutput.write(eventOf.apply(response));
                code.ifPresent(exit::complete);
            }

            @Override
            public void onError(Throwable t) {
                exit.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
                exit.completeExceptionally(new IllegalStateException("the daemon ended the stream without an exit status"));
            }
        });
        Object lock = new Object();
        synchronized (lock) {
            requests.onNext(start);
        }
        try (Terminal.RawMode raw = tty ? Terminal.rawMode() : Terminal.RawMode.NONE) {
            if (tty) {
                Terminal.size().ifPresent(size -> send(requests, lock, wrap, ProcessInput.newBuilder().setResize(size).build()));
                Terminal.onResize(() -> Terminal.size().ifPresent(
                        size -> send(requests, lock, wrap, ProcessInput.newBuilder().setResize(size).build())));
            }
            Thread pump = Thread.ofPlatform().daemon().name("kelpie-stdin").start(() -> pumpStdin(requests, lock, wrap));
            try {
                return exit.get();
            } catch (ExecutionException e) {
                throw e.getCause() instanceof StatusRuntimeException s ? s : e;
            } finally {
                pump.interrupt();
            }
        }
    }

    private static <Q> void pumpStdin(StreamObserver<Q> requests, Object lock, Function<ProcessInput, Q> wrap) {
        InputStream in = System.in;
        byte[] buffer = new byte[STDIN_CHUNK_BYTES];
        try {
            int n;
            while ((n = in.read(buffer)) > 0) {
                send(requests, lock, wrap, ProcessInput.newBuilder().setStdin(ByteString.copyFrom(buffer, 0, n)).build());
            }
            send(requests, lock, wrap, ProcessInput.newBuilder().setStdinEof(true).build());
        } catch (IOException | RuntimeException e) {
            // The session ended (or stdin broke): nothing more to send.
        }
    }

    private static <Q> void send(StreamObserver<Q> requests, Object lock, Function<ProcessInput, Q> wrap, ProcessInput input) {
        synchronized (lock) {
            requests.onNext(wrap.apply(input));
        }
    }

    static TerminalSize size(int rows, int columns) {
        return TerminalSize.newBuilder().setRows(rows).setColumns(columns).build();
    }
}
