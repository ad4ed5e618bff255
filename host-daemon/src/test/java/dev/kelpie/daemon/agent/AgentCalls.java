package dev.kelpie.daemon.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kelpie.agent.v1.AgentGrpc;
import dev.kelpie.agent.v1.ExecRequest;
import dev.kelpie.agent.v1.ExecResponse;
import dev.kelpie.agent.v1.ExecStart;
import dev.kelpie.agent.v1.OutputStream;
import dev.kelpie.agent.v1.ProcessEvent;
import dev.kelpie.agent.v1.ProcessInput;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

/** Agent calls that several tests make: run a command to its final event, and read its output. */
final class AgentCalls {

    private AgentCalls() {}

    static ExecStart command(String... argv) {
        return ExecStart.newBuilder().addAllArgv(List.of(argv)).build();
    }

    /** Runs one exec to its end, sending {@code input} after the start; the stream must end OK. */
    static List<ProcessEvent> exec(AgentGrpc.AgentStub stub, ExecStart start, List<ProcessInput> input, Duration timeout)
            throws Exception {
        StreamCollector<ExecResponse> events = new StreamCollector<>();
        StreamObserver<ExecRequest> requests = stub.exec(events);
        requests.onNext(ExecRequest.newBuilder().setStart(start).build());
        input.forEach(i -> requests.onNext(ExecRequest.newBuilder().setInput(i).build()));
        var outcome = events.await(timeout);
        requests.onCompleted();
        assertEquals(Status.Code.OK, outcome.status().getCode(), outcome.status().toString());
        return outcome.messages().stream().map(ExecResponse::getEvent).toList();
    }

    static String output(List<ProcessEvent> events, OutputStream stream) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        events.stream().filter(ProcessEvent::hasOutput).map(ProcessEvent::getOutput)
                .filter(o -> o.getStream() == stream).forEach(o -> out.writeBytes(o.getData().toByteArray()));
        return out.toString(StandardCharsets.UTF_8);
    }

    static long finalEvents(List<ProcessEvent> events) {
        return events.stream().filter(e -> e.hasExited() || e.hasFailed()).count();
    }
}
