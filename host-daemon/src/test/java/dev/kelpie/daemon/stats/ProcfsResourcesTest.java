package dev.kelpie.daemon.stats;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.daemon.hypervisor.ProcessIdentity;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.OptionalLong;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Parsing /proc from captured files, and reading a live process (this JVM) where /proc exists. */
class ProcfsResourcesTest {

    private static String sample(String name) throws IOException {
        try (InputStream in = ProcfsResourcesTest.class.getResourceAsStream(name)) {
            return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        }
    }

    @Test
    void statGivesUserPlusSystemTicksAndTheStartEvenWithParenthesesInTheCommand() throws IOException {
        ProcfsResources.Stat stat = ProcfsResources.parseStat(sample("qemu-stat.txt"));
        assertEquals(2375 + 813, stat.cpuTicks(), "utime + stime (fields 14 and 15)");
        assertEquals(31.88, stat.cpuSeconds(), 1e-9, "USER_HZ is 100");
        assertEquals(1285617, stat.startTicks(), "field 22");
    }

    @Test
    void smapsRollupGivesRssAndPssInBytes() throws IOException {
        ProcfsResources.Rollup rollup = ProcfsResources.parseSmapsRollup(sample("qemu-smaps_rollup.txt"));
        assertEquals(264192L * 1024, rollup.rssBytes());
        assertEquals(OptionalLong.of(251905L * 1024), rollup.pssBytes(), "Pss, not Pss_Dirty or SwapPss");
    }

    @Test
    void aRollupWithoutPssHasNoneAndOneWithoutRssIsRefused() {
        assertEquals(OptionalLong.empty(), ProcfsResources.parseSmapsRollup("Rss: 8 kB\n").pssBytes());
        assertThrows(IllegalArgumentException.class, () -> ProcfsResources.parseSmapsRollup("Pss: 8 kB\n"));
    }

    @Test
    void duOutputIsReadInKib() {
        assertEquals(123, DiskUsage.parseKib("123\t/var/lib/kelpie/vms/ab/rw.ext4"));
    }

    @Test
    void aLiveProcessIsReadAndAReusedPidIsNot() {
        Assumptions.assumeTrue(java.nio.file.Files.isReadable(java.nio.file.Path.of("/proc/self/smaps_rollup")));
        ProcessIdentity self = ProcessIdentity.of(ProcessHandle.current().pid()).orElseThrow();
        ProcfsResources procfs = new ProcfsResources();
        ProcessSample sample = procfs.process(self).orElseThrow();
        assertTrue(sample.cpuSeconds() > 0 && sample.rssBytes() > 0 && sample.pssBytes().isPresent(), sample.toString());
        assertTrue(procfs.cpuSeconds(self).isPresent());

        String otherStart = self.bootStart().substring(0, self.bootStart().lastIndexOf('/') + 1) + "1";
        ProcessIdentity impostor = new ProcessIdentity(self.pid(), self.startMillis(), otherStart);
        assertTrue(procfs.process(impostor).isEmpty(), "a pid that names another process lends it no figures");
        assertTrue(procfs.cpuSeconds(impostor).isEmpty());
    }
}
