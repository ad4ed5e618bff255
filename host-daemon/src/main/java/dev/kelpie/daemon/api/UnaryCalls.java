package dev.kelpie.daemon.api;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;

/** Answers a unary call from code that may throw: one response, or one status that says what went wrong. */
final class UnaryCalls {

    private UnaryCalls() {}

    @FunctionalInterface
    interface Call<T> {
        T run() throws Exception;
    }

    static <T> void respond(StreamObserver<T> out, Call<T> call) {
        T response;
        try {
            response = call.run();
        } catch (StatusRuntimeException e) {
            // An agent's UNAVAILABLE or timeout says so, so the client knows which side failed.
            out.onError(e.getStatus().getCode() == Status.Code.UNAVAILABLE
                    || e.getStatus().getCode() == Status.Code.DEADLINE_EXCEEDED
                    ? e.getStatus().withDescription("agent: " + e.getStatus().getDescription()).asRuntimeException() : e);
            return;
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            out.onError(GrpcErrors.toStatus(e));
            return;
        }
        out.onNext(response);
        out.onCompleted();
    }
}
