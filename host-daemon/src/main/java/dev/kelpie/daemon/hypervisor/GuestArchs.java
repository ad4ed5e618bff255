package dev.kelpie.daemon.hypervisor;

import dev.kelpie.daemon.errors.InvalidRequestException;
import java.util.List;
import java.util.Objects;

/**
 * The guest architectures Kelpie runs and how this host runs each: its own natively (KVM or HVF when there is one),
 * the other emulated under QEMU's TCG. Whether the selected backend can run one at all is the backend's to say
 * ({@link Hypervisor#archUnavailableReason}).
 *
 * @param hostArch the host's architecture
 * @param defaultArch the architecture of a sandbox that asks for none
 */
public record GuestArchs(String hostArch, String defaultArch) {

    /** Every guest architecture Kelpie builds images and agents for. */
    public static final List<String> SUPPORTED = List.of("x86_64", "aarch64");

    public GuestArchs {
        Objects.requireNonNull(hostArch, "hostArch");
        if (!SUPPORTED.contains(defaultArch)) {
            throw new IllegalArgumentException("default guest arch '" + defaultArch + "' is not one of " + SUPPORTED);
        }
    }

    /** Guests default to the host's architecture. */
    public static GuestArchs of(String hostArch) {
        return new GuestArchs(hostArch, hostArch);
    }

    /**
     * The architecture a request asked for, or the default when it asked for none.
     *
     * @param field the request's field, for the message
     * @throws InvalidRequestException naming the architectures there are
     */
    public String resolve(String asked, String field) {
        if (asked == null || asked.isEmpty()) {
            return defaultArch;
        }
        if (!SUPPORTED.contains(asked)) {
            throw new InvalidRequestException(field + " '" + asked + "' is not a guest architecture (supported: "
                    + String.join(", ", SUPPORTED) + ")");
        }
        return asked;
    }

    /** A guest of {@code arch} has its CPU emulated here. */
    public boolean emulated(String arch) {
        return !arch.equals(hostArch);
    }
}
