package dev.kelpie.daemon.hypervisor.probe;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.jboss.logging.Logger;

/**
 * What tells one boot of the host from the next: Linux's random boot id, macOS's boot session UUID. Accelerator
 * verdicts are only good for the boot they were made in.
 */
public final class HostBootId {

    private static final Logger LOG = Logger.getLogger(HostBootId.class);
    static final Path LINUX_BOOT_ID = Path.of("/proc/sys/kernel/random/boot_id");
    private static final Duration SYSCTL_TIMEOUT = Duration.ofSeconds(5);
    /** Without a boot id, verdicts are still keyed by qemu and kernel; a reboot then keeps them. */
    static final String UNKNOWN = "unknown-boot";

    private HostBootId() {}

    public static String current(HostPlatform platform, CommandRunner commands) {
        try {
            String id = platform.isMacOs()
                    ? commands.run(List.of("sysctl", "-n", "kern.bootsessionuuid"), SYSCTL_TIMEOUT).output()
                    : Files.readString(LINUX_BOOT_ID, StandardCharsets.US_ASCII);
            id = id.strip();
            if (id.matches("[0-9A-Fa-f-]{8,64}")) {
                return id;
            }
            LOG.warnf("the host's boot id '%s' is not one: accelerator verdicts outlive reboots", id);
        } catch (IOException e) {
            LOG.warnf("cannot read the host's boot id (%s): accelerator verdicts outlive reboots", e.getMessage());
        }
        return UNKNOWN;
    }
}
