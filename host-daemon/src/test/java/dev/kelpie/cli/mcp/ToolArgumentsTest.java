package dev.kelpie.cli.mcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ToolArgumentsTest {

    private static ToolError invalid(Runnable r) {
        ToolError e = assertThrows(ToolError.class, r::run);
        assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
        return e;
    }

    @Test
    void unknownArgumentsAreRefusedByName() {
        var args = new ToolArguments(Map.of("sandbox_id", "a", "timeout", 5));
        ToolError e = invalid(() -> args.allowOnly(Set.of("sandbox_id", "timeout_seconds")));
        assertTrue(e.getMessage().contains("[timeout]") && e.getMessage().contains("timeout_seconds"), e.getMessage());
    }

    @Test
    void stringsAreRequiredNonEmptyAndOfTheirType() {
        assertEquals("a", new ToolArguments(Map.of("id", "a")).requiredString("id"));
        invalid(() -> new ToolArguments(Map.of()).requiredString("id"));
        invalid(() -> new ToolArguments(Map.of("id", " ")).requiredString("id"));
        ToolError e = invalid(() -> new ToolArguments(Map.of("id", 7)).requiredString("id"));
        assertTrue(e.getMessage().contains("must be a string, not a number"), e.getMessage());
    }

    @Test
    void integersComeAsAnyJsonNumberWithinTheirBounds() {
        assertEquals(Optional.of(5L), new ToolArguments(Map.of("n", 5)).optionalLong("n", 1, 10));
        assertEquals(Optional.of(5L), new ToolArguments(Map.of("n", 5.0)).optionalLong("n", 1, 10));
        assertEquals(Optional.empty(), new ToolArguments(Map.of()).optionalLong("n", 1, 10));
        invalid(() -> new ToolArguments(Map.of("n", 5.5)).optionalLong("n", 1, 10));
        invalid(() -> new ToolArguments(Map.of("n", "5")).optionalLong("n", 1, 10));
        ToolError e = invalid(() -> new ToolArguments(Map.of("n", 11)).optionalLong("n", 1, 10));
        assertTrue(e.getMessage().contains("between 1 and 10"), e.getMessage());
    }

    @Test
    void listsMapsFlagsAndChoicesAreChecked() {
        assertEquals(List.of("a", "b"), new ToolArguments(Map.of("l", List.of("a", "b"))).stringList("l"));
        invalid(() -> new ToolArguments(Map.of("l", List.of("a", 1))).stringList("l"));
        invalid(() -> new ToolArguments(Map.of("l", "a")).stringList("l"));
        assertEquals(Map.of("K", "v"), new ToolArguments(Map.of("m", Map.of("K", "v"))).stringMap("m"));
        invalid(() -> new ToolArguments(Map.of("m", Map.of("K", 1))).stringMap("m"));
        assertTrue(new ToolArguments(Map.of("f", true)).flag("f"));
        invalid(() -> new ToolArguments(Map.of("f", "yes")).flag("f"));
        assertEquals(Optional.of("vm"), new ToolArguments(Map.of("k", "vm")).optionalChoice("k", Set.of("vm", "checkpoint")));
        invalid(() -> new ToolArguments(Map.of("k", "VM")).optionalChoice("k", Set.of("vm", "checkpoint")));
    }

    @Test
    void nullArgumentsAreNoArguments() {
        assertEquals(Optional.empty(), new ToolArguments(null).allowOnly(Set.of()).optionalString("x"));
    }
}
