package dev.kelpie.daemon.hypervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** A VM's process is found again by what no clock step moves, and a stranger with its pid is not. */
class ProcessIdentityTest {

    private static final long ONE_HOUR_MS = Duration.ofHours(1).toMillis();
    private Process process;

    @AfterEach
    void kill() {
        if (process != null) {
            process.destroyForcibly();
        }
    }

    private ProcessIdentity started() throws Exception {
        process = new ProcessBuilder("sleep", "600").start();
        return ProcessIdentity.of(process.pid()).orElseThrow();
    }

    @Test
    void aRecordWrittenBeforeAWallClockStepStillNamesTheProcess() throws Exception {
        Assumptions.assumeTrue(Files.isReadable(Path.of("/proc/self/stat")), "boot-relative starts are Linux's");
        ProcessIdentity recorded = started();
        assertTrue(recorded.bootStart().matches("[0-9a-f-]{36}/\\d+"), recorded.bootStart());

        // The daemon that wrote the record saw a wall clock an hour off from today's (an NTP step in between): the
        // start instant it derived differs, the boot-relative start does not.
        ProcessIdentity beforeTheStep = new ProcessIdentity(recorded.pid(), recorded.startMillis() - ONE_HOUR_MS,
                recorded.bootStart());
        assertTrue(beforeTheStep.live().isPresent(), "re-adopted across the clock step");
    }

    @Test
    void aReusedPidWithAnotherStartIsAStranger() throws Exception {
        ProcessIdentity recorded = started();
        String[] bootAndTicks = recorded.bootStart().split("/");
        String otherStart = recorded.bootStart().isEmpty() ? ""
                : bootAndTicks[0] + "/" + (Long.parseLong(bootAndTicks[1]) + 1);
        ProcessIdentity stranger = new ProcessIdentity(recorded.pid(), recorded.startMillis() + ONE_HOUR_MS, otherStart);
        assertFalse(stranger.live().isPresent(), "another start under the same pid");
        ProcessIdentity otherBoot = new ProcessIdentity(recorded.pid(), recorded.startMillis(),
                "00000000-0000-0000-0000-000000000000/" + (bootAndTicks.length > 1 ? bootAndTicks[1] : "0"));
        assertEquals(recorded.bootStart().isEmpty(), otherBoot.live().isPresent(), "the same ticks in another boot");
    }

    @Test
    void aRecordOfAnOlderDaemonIsComparedByItsStartInstant() throws Exception {
        ProcessIdentity recorded = started();
        assertTrue(new ProcessIdentity(recorded.pid(), recorded.startMillis(), "").live().isPresent());
        assertFalse(new ProcessIdentity(recorded.pid(), recorded.startMillis() - ONE_HOUR_MS, "").live().isPresent());
    }
}
