package dev.kelpie.daemon.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import dev.kelpie.api.v1.Command;
import dev.kelpie.api.v1.ImagesGrpc;
import dev.kelpie.api.v1.PackagesGrpc;
import dev.kelpie.api.v1.SandboxesGrpc;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every RPC that names a sandbox, package or image answers NOT_FOUND, naming it, when nothing has that name. The
 * methods are found from the services' descriptors, so a new RPC is walked without anyone adding it here; the few that
 * name nothing are listed, so one that gains a name is noticed.
 */
class UnknownIdsTest {

    private static final String UNKNOWN_ID = "no-such-thing-42";
    private static final String UNKNOWN_VERSION = "9.9.9";
    /** Fields that name what a call acts on. */
    private static final Map<String, String> NAMES = Map.of("id", UNKNOWN_ID, "sandbox_id", UNKNOWN_ID,
            "package_id", UNKNOWN_ID, "version", UNKNOWN_VERSION);
    /** Other fields a call checks before it looks anything up, filled with valid values. */
    private static final Map<String, Object> VALID = Map.of("arch", SimReleases.ARCH, "path", "/workspace/x",
            "process_id", "p-1", "to_store", "other", "command", Command.newBuilder().addArgv("true").build());
    private static final Set<String> NAMING_NOTHING = Set.of("kelpie.v1.Sandboxes/Create", "kelpie.v1.Sandboxes/List",
            "kelpie.v1.Packages/List", "kelpie.v1.Packages/Import", "kelpie.v1.Images/List", "kelpie.v1.Images/Prune");

    @TempDir
    static Path dir;
    private static ScheduledExecutorService watchdog;
    private static SimWorld world;
    private static SimDaemon daemon;

    @BeforeAll
    static void start() throws Exception {
        watchdog = Executors.newSingleThreadScheduledExecutor();
        SimReleases releases = SimReleases.write(dir.resolve("releases"));
        world = new SimWorld(1, dir.resolve("state"), releases, watchdog, false);
        daemon = SimDaemon.start(world, 0);
    }

    @AfterAll
    static void stop() {
        daemon.stop();
        world.agents.close();
        watchdog.shutdownNow();
    }

    @Test
    void everyRpcThatNamesSomethingUnknownAnswersNotFound() throws Exception {
        List<String> wrong = new ArrayList<>();
        Set<String> namingNothing = new TreeSet<>();
        int walked = 0;
        for (ServiceDescriptor service : List.of(SandboxesGrpc.getServiceDescriptor(),
                PackagesGrpc.getServiceDescriptor(), ImagesGrpc.getServiceDescriptor())) {
            for (MethodDescriptor<?, ?> method : service.getMethods()) {
                Message prototype = ((MethodDescriptor.PrototypeMarshaller<?>) method.getRequestMarshaller())
                        .getMessagePrototype() instanceof Message m ? m : null;
                Message.Builder request = prototype.toBuilder();
                if (!fill(request)) {
                    namingNothing.add(method.getFullMethodName());
                    continue;
                }
                walked++;
                Status status = call(method, request.build());
                String named = method.getFullMethodName().startsWith("kelpie.v1.Images") ? UNKNOWN_VERSION : UNKNOWN_ID;
                if (status.getCode() != Status.Code.NOT_FOUND || !String.valueOf(status.getDescription()).contains(named)) {
                    wrong.add(method.getFullMethodName() + " -> " + status.getCode() + ": " + status.getDescription());
                }
            }
        }
        assertEquals(NAMING_NOTHING, namingNothing, "the methods that name nothing");
        assertTrue(walked >= 20, "walked only " + walked + " methods");
        assertEquals(List.of(), wrong, "methods that did not answer NOT_FOUND naming what is missing");
    }

    /** Fills the fields a call needs, the names with unknown ones; whether the message names anything. */
    private static boolean fill(Message.Builder message) {
        boolean names = false;
        for (FieldDescriptor field : message.getDescriptorForType().getFields()) {
            String name = field.getName();
            if (NAMES.containsKey(name) && field.getType() == FieldDescriptor.Type.STRING) {
                message.setField(field, NAMES.get(name));
                names = true;
            } else if (VALID.containsKey(name)) {
                message.setField(field, VALID.get(name));
            } else if (name.equals("start") && field.getType() == FieldDescriptor.Type.MESSAGE) {
                Message.Builder start = message.newBuilderForField(field);
                names |= fill(start);
                message.setField(field, start.build());
            }
        }
        return names;
    }

    /** One request, then half-close, whatever the method's kind; the status it ends with. */
    @SuppressWarnings("unchecked")
    private static <Q, R> Status call(MethodDescriptor<Q, R> method, Message request) throws Exception {
        CompletableFuture<Status> closed = new CompletableFuture<>();
        ClientCall<Q, R> call = daemon.channel().newCall(method, CallOptions.DEFAULT.withDeadlineAfter(10,
                TimeUnit.SECONDS));
        call.start(new ClientCall.Listener<>() {
            @Override
            public void onClose(Status status, Metadata trailers) {
                closed.complete(status);
            }
        }, new Metadata());
        call.request(Integer.MAX_VALUE);
        call.sendMessage((Q) request);
        call.halfClose();
        return closed.get(20, TimeUnit.SECONDS);
    }
}
