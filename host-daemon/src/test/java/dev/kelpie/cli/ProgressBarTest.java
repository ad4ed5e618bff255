package dev.kelpie.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kelpie.api.v1.PullProgress;
import org.junit.jupiter.api.Test;

class ProgressBarTest {

    @Test
    void aDownloadShowsBytesRateAndTimeLeft() {
        PullProgress p = PullProgress.newBuilder().setPhase("downloading").setFile("a.tar.zst")
                .setReceivedBytes(12L << 20).setTotalBytes(48L << 20).setRateBytesPerSecond(3L << 20).build();
        assertEquals("[########                      ]  25%  12.0 MiB / 48.0 MiB  3.0 MiB/s  ETA 12s", ProgressBar.line(p));
    }

    @Test
    void otherPhasesAndUnknownTotalsShowThePhase() {
        assertEquals("installing a.tar.zst", ProgressBar.line(PullProgress.newBuilder().setPhase("installing")
                .setFile("a.tar.zst").build()));
        assertEquals("downloading a", ProgressBar.line(PullProgress.newBuilder().setPhase("downloading").setFile("a")
                .setReceivedBytes(5).build()));
    }

    @Test
    void sizesUseBinaryUnits() {
        assertEquals("999 B", ProgressBar.bytes(999));
        assertEquals("1.5 KiB", ProgressBar.bytes(1536));
        assertEquals("2.0 GiB", ProgressBar.bytes(2L << 30));
    }
}
