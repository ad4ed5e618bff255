package dev.kelpie.daemon.it;

import io.grpc.ManagedChannel;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.reflection.v1.ServiceResponse;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Server reflection as grpcurl uses it: one bidi stream per tool run, a list then descriptor lookups, and the stream
 * abandoned (cancelled, not half-closed) when the tool has what it needs.
 */
final class ReflectionCalls {

    private static final Duration ANSWER_TIMEOUT = Duration.ofSeconds(10);

    private final ManagedChannel channel;

    ReflectionCalls(ManagedChannel channel) {
        this.channel = channel;
    }

    /** The services reflection lists, over grpc.reflection.v1. */
    Set<String> listServices() throws InterruptedException {
        Stream stream = open();
        try {
            ServerReflectionResponse answer = stream.ask(ServerReflectionRequest.newBuilder().setListServices("*").build());
            Set<String> names = new TreeSet<>();
            answer.getListServicesResponse().getServiceList().stream().map(ServiceResponse::getName).forEach(names::add);
            return names;
        } finally {
            stream.requests.cancel("done", null);
        }
    }

    /**
     * Lists the services and describes one, then cancels the stream: at once, as grpcurl does when it has what it
     * needs, or ({@code whileAnswering}) right after asking for a second description, so that the server's answer
     * races the client's RST_STREAM.
     */
    void abandon(String symbol, boolean whileAnswering) throws InterruptedException {
        Stream stream = open();
        try {
            stream.ask(ServerReflectionRequest.newBuilder().setListServices("*").build());
            stream.ask(ServerReflectionRequest.newBuilder().setFileContainingSymbol(symbol).build());
            if (whileAnswering) {
                stream.requests.onNext(ServerReflectionRequest.newBuilder().setFileContainingSymbol(symbol).build());
            }
        } finally {
            stream.requests.cancel("abandoned by the client", null);
        }
    }

    private Stream open() {
        Stream stream = new Stream();
        ServerReflectionGrpc.newStub(channel).serverReflectionInfo(stream);
        return stream;
    }

    /** One reflection stream: requests go out through the call, answers (or the end) come back through a queue. */
    private static final class Stream implements ClientResponseObserver<ServerReflectionRequest, ServerReflectionResponse> {
        private final BlockingQueue<Object> answers = new LinkedBlockingQueue<>();
        private ClientCallStreamObserver<ServerReflectionRequest> requests;

        @Override
        public void beforeStart(ClientCallStreamObserver<ServerReflectionRequest> requestStream) {
            this.requests = requestStream;
        }

        ServerReflectionResponse ask(ServerReflectionRequest request) throws InterruptedException {
            requests.onNext(request);
            Object answer = answers.poll(Await.scaled(ANSWER_TIMEOUT).toMillis(), TimeUnit.MILLISECONDS);
            if (answer instanceof ServerReflectionResponse response) {
                if (response.hasErrorResponse()) {
                    throw new AssertionError("reflection answered an error: " + response.getErrorResponse());
                }
                return response;
            }
            throw new AssertionError("reflection did not answer " + request + ": " + (answer == null ? "timed out" : answer));
        }

        @Override
        public void onNext(ServerReflectionResponse value) {
            answers.add(value);
        }

        @Override
        public void onError(Throwable t) {
            answers.add(t);
        }

        @Override
        public void onCompleted() {
            answers.add("the stream ended");
        }
    }
}
