package dev.kelpie.daemon.stats;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class CpuRateTest {

    private static final long SECOND_NANOS = 1_000_000_000L;

    @Test
    void oneBusyCoreIsAHundredPercentAndTwoAreTwoHundred() {
        assertEquals(100.0, CpuRate.percentOfOneCore(10.0, 0, 11.0, SECOND_NANOS), 1e-9);
        assertEquals(200.0, CpuRate.percentOfOneCore(10.0, 0, 14.0, 2 * SECOND_NANOS), 1e-9);
        assertEquals(25.0, CpuRate.percentOfOneCore(0.0, 5 * SECOND_NANOS, 0.125, 5 * SECOND_NANOS + SECOND_NANOS / 2), 1e-9);
    }

    @Test
    void noTimeOrTimeGoingBackwardsIsZero() {
        assertEquals(0.0, CpuRate.percentOfOneCore(1.0, SECOND_NANOS, 2.0, SECOND_NANOS));
        assertEquals(0.0, CpuRate.percentOfOneCore(5.0, 0, 4.0, SECOND_NANOS));
    }

    @Test
    void theFirstSampleAndANewProcessStartAtZero() {
        CpuRate rate = new CpuRate();
        assertEquals(0.0, rate.next(42, 10.0, 0));
        assertEquals(50.0, rate.next(42, 10.5, SECOND_NANOS), 1e-9);
        assertEquals(0.0, rate.next(43, 1.0, 2 * SECOND_NANOS), "another VM process: no rate across the two");
        assertEquals(100.0, rate.next(43, 2.0, 3 * SECOND_NANOS), 1e-9);
    }
}
