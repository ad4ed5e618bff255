package dev.kelpie.cli.mcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.api.v1.SandboxSpec;
import io.grpc.Status;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class McpLimitsTest {

    private static McpLimits limits(List<String> egress) {
        return new McpLimits(2, 2, 1024, 4096, egress, Duration.ofMinutes(5), 1000);
    }

    private static ToolError denied(Runnable r) {
        ToolError e = assertThrows(ToolError.class, r::run);
        assertEquals(Status.Code.PERMISSION_DENIED, e.code());
        return e;
    }

    @Test
    void explicitSizesOverALimitAreRefusedNamingTheFlag() {
        McpLimits l = limits(List.of());
        l.checkRequestedShape(2, 1024, 4096);
        l.checkRequestedShape(0, 0, 0); // the daemon's defaults, checked once resolved
        assertTrue(denied(() -> l.checkRequestedShape(3, 0, 0)).getMessage().contains("--max-vcpus"));
        assertTrue(denied(() -> l.checkRequestedShape(0, 2048, 0)).getMessage().contains("--max-memory-mib"));
        assertTrue(denied(() -> l.checkRequestedShape(0, 0, 8192)).getMessage().contains("--max-disk-mib"));
    }

    @Test
    void aResolvedShapeOverALimitIsRefused() {
        McpLimits l = limits(List.of());
        l.checkResolvedShape(SandboxSpec.newBuilder().setVcpuCount(1).setMemoryMib(512).setDiskSizeMib(1024).build());
        denied(() -> l.checkResolvedShape(SandboxSpec.newBuilder().setVcpuCount(1).setMemoryMib(2048).build()));
        denied(() -> l.checkResolvedShape(SandboxSpec.newBuilder().setVcpuCount(4).build()));
    }

    @Test
    void noEgressAllowedRefusesAnyNetwork() {
        assertTrue(denied(() -> limits(List.of()).egressAllowList(List.of())).getMessage().contains("--allow-egress"));
    }

    @Test
    void egressIsLimitedToTheOperatorsDestinationsAndDefaultsToAllOfThem() {
        McpLimits l = limits(List.of("pypi.org", "*.pythonhosted.org"));
        assertEquals(List.of("pypi.org", "*.pythonhosted.org"), l.egressAllowList(List.of()));
        assertEquals(List.of("pypi.org"), l.egressAllowList(List.of("pypi.org")));
        assertTrue(denied(() -> l.egressAllowList(List.of("pypi.org", "evil.example"))).getMessage()
                .contains("evil.example"));
    }

    @Test
    void anyLetsTheAgentChooseIncludingEverything() {
        McpLimits l = limits(List.of(McpLimits.ANY_DESTINATION));
        assertEquals(List.of(), l.egressAllowList(List.of()));
        assertEquals(List.of("example.com"), l.egressAllowList(List.of("example.com")));
    }

    @Test
    void commandTimeoutsAndOutputSizesAreCapped() {
        McpLimits l = limits(List.of());
        assertEquals(Duration.ofSeconds(30), l.commandTimeout(30L, Duration.ofMinutes(2)));
        assertEquals(Duration.ofMinutes(2), l.commandTimeout(null, Duration.ofMinutes(2)));
        assertEquals(Duration.ofMinutes(5), l.commandTimeout(null, Duration.ofMinutes(10)));
        assertTrue(denied(() -> l.commandTimeout(301L, Duration.ofMinutes(2))).getMessage()
                .contains("--max-command-timeout"));
        assertEquals(500, l.outputBytes(500L, 64));
        assertEquals(64, l.outputBytes(null, 64));
        assertEquals(1000, l.outputBytes(null, 1 << 20));
        assertTrue(denied(() -> l.outputBytes(1001L, 64)).getMessage().contains("--max-output-bytes"));
    }
}
