package dev.kelpie.cli.mcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.util.Set;
import org.junit.jupiter.api.Test;

class McpSessionTest {

    @Test
    void createsInFlightCountAgainstTheLimit() {
        McpSession s = new McpSession(2);
        s.beginCreate();
        s.beginCreate();
        ToolError e = assertThrows(ToolError.class, s::beginCreate);
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.code());
        assertTrue(e.getMessage().contains("--max-sandboxes"), e.getMessage());
        assertTrue(s.endCreate("a"));
        assertFalse(s.endCreate(null)); // failed: the slot is free again
        s.beginCreate();
        assertTrue(s.endCreate("b"));
        assertEquals(Set.of("a", "b"), s.owned());
        s.forget("a");
        s.requireOwned("b");
        assertEquals(Status.Code.NOT_FOUND, assertThrows(ToolError.class, () -> s.requireOwned("a")).code());
    }

    @Test
    void aClosedSessionAdoptsNothing() {
        McpSession s = new McpSession(2);
        s.beginCreate();
        s.close();
        assertFalse(s.endCreate("late"), "a create that finishes after the end is the caller's to delete");
        assertEquals(Status.Code.UNAVAILABLE, assertThrows(ToolError.class, s::beginCreate).code());
    }

    @Test
    void labelsNameTheSessionAndTheKeepChoice() {
        McpSession s = new McpSession(1);
        assertEquals(s.id(), s.labels(false).get(McpSession.SESSION_LABEL));
        assertEquals("false", s.labels(false).get(McpSession.KEEP_LABEL));
        assertEquals("true", s.labels(true).get(McpSession.KEEP_LABEL));
    }

    @Test
    void theEndWaitsForCreatesInFlightSoTheirSandboxesAreListed() throws Exception {
        McpSession s = new McpSession(2);
        s.beginCreate();
        s.close();
        assertFalse(s.awaitNoCreates(java.time.Duration.ofMillis(50)), "a create is still under way");
        Thread late = Thread.ofVirtual().start(() -> s.endCreate("late"));
        assertTrue(s.awaitNoCreates(java.time.Duration.ofSeconds(10)));
        late.join();
    }
}
