package dev.kelpie.runner;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** A native runner can only make the downcalls registered at build time: the metadata must list exactly ours. */
class NativeImageMetadataTest {

    private static final String METADATA = "/META-INF/native-image/dev.kelpie/kelpie-vm-runner/reachability-metadata.json";

    @Test
    void everyDescriptorIsRegisteredAndNothingElse() throws IOException {
        JsonNode downcalls = new ObjectMapper().readTree(LibkrunAbiTest.resource(METADATA)).path("foreign").path("downcalls");
        Set<String> registered = new TreeSet<>();
        for (JsonNode call : downcalls) {
            List<String> types = new ArrayList<>();
            call.path("parameterTypes").forEach(t -> types.add(t.asText()));
            registered.add(call.path("returnType").asText() + "(" + String.join(",", types) + ")");
        }
        Set<String> needed = Stream.concat(Stream.of(KrunFunction.values()).map(KrunFunction::descriptor),
                Stream.of(OwnSession.SETSID)).map(d -> jni(d.returnLayout().orElseThrow()) + "("
                        + d.argumentLayouts().stream().map(NativeImageMetadataTest::jni).collect(Collectors.joining(",")) + ")")
                .collect(Collectors.toCollection(TreeSet::new));
        assertEquals(needed, registered);
    }

    private static String jni(MemoryLayout layout) {
        if (layout.equals(ValueLayout.ADDRESS)) {
            return "void*";
        }
        Class<?> carrier = ((ValueLayout) layout).carrier();
        return "j" + carrier.getSimpleName();
    }
}
