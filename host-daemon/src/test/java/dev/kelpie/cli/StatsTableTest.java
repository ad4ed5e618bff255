package dev.kelpie.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.api.v1.GuestStats;
import dev.kelpie.api.v1.SandboxState;
import dev.kelpie.api.v1.SandboxStats;
import dev.kelpie.api.v1.VmProcessStats;
import java.util.List;
import org.junit.jupiter.api.Test;

class StatsTableTest {

    @Test
    void sizesAreInBinaryUnits() {
        assertEquals("1023B", StatsTable.bytes(1023));
        assertEquals("1.5KiB", StatsTable.bytes(1536));
        assertEquals("256MiB", StatsTable.bytes(256L << 20));
        assertEquals("2.0GiB", StatsTable.bytes(2L << 30));
    }

    @Test
    void aPausedSandboxShowsHostFiguresAndDashesForTheGuest() {
        SandboxStats paused = SandboxStats.newBuilder().setId("ab12").setState(SandboxState.SANDBOX_STATE_PAUSED)
                .setVm(VmProcessStats.newBuilder().setCpuPercent(0.5).setCpuSeconds(12.2).setRssBytes(300L << 20))
                .setDiskAllocatedBytes(40L << 20).build();
        SandboxStats ready = SandboxStats.newBuilder().setId("cd34").setState(SandboxState.SANDBOX_STATE_READY)
                .setVm(VmProcessStats.newBuilder().setCpuPercent(99.96).setRssBytes(1L << 30).setPssBytes(1L << 29))
                .setGuest(GuestStats.newBuilder().setMemoryTotalBytes(512L << 20).setMemoryAvailableBytes(256L << 20)
                        .setLoadAverage1M(1.5).setProcessCount(7)).build();
        List<String> lines = StatsTable.render(List.of(paused, ready)).lines().toList();
        assertEquals(3, lines.size());
        assertTrue(lines.get(1).matches("ab12\\s+paused\\s+0\\.5%\\s+12\\.2s\\s+300MiB\\s+--\\s+--\\s+--.*"), lines.get(1));
        assertTrue(lines.get(2).matches("cd34\\s+ready\\s+100\\.0%.*1\\.0GiB\\s+512MiB\\s+256MiB / 512MiB\\s+1\\.50.*\\s7"),
                lines.get(2));
    }
}
