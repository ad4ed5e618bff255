package dev.kelpie.daemon.images;

import dev.kelpie.daemon.hypervisor.GuestArchs;

/**
 * Whether this daemon can boot an image: the guest arch must be one Kelpie runs (the host's natively, the other
 * emulated; whether the selected backend can is asked at create) and the agent baked into it must speak a protocol version the daemon's agent client speaks. The schema of
 * metadata.json is checked where it is read ({@link ImageMetadata#from}).
 */
public final class ImageCompatibility {

    /** Agent protocol versions the daemon's agent client speaks (guest-agent's {@code PROTOCOL_VERSION}). */
    public static final int MIN_AGENT_PROTOCOL = 1;
    public static final int MAX_AGENT_PROTOCOL = 1;

    public ImageCompatibility() {}

    /**
     * @throws IncompatibleImageException saying what differs
     */
    public void check(ImageMetadata image, boolean anyArch) {
        check(image.version(), image.arch(), image.agentProtocolNumber(), anyArch);
    }

    /** Before a boot: the image must be for an architecture this daemon runs. */
    public void checkBootable(BootImage image) {
        check(image.version(), image.arch(), image.agentProtocolVersion(), false);
    }

    private void check(String version, String arch, int protocol, boolean anyArch) {
        if (!anyArch && !GuestArchs.SUPPORTED.contains(arch)) {
            throw new IncompatibleImageException("image " + version + " is for " + arch + ", which this daemon"
                    + " cannot run (guest architectures: " + String.join(", ", GuestArchs.SUPPORTED) + ")");
        }
        if (protocol < MIN_AGENT_PROTOCOL || protocol > MAX_AGENT_PROTOCOL) {
            String has = protocol <= 0 ? "an agent of unknown protocol version" : "agent protocol " + protocol;
            throw new IncompatibleImageException("image " + version + "/" + arch + " has " + has
                    + "; this daemon speaks agent protocol " + MIN_AGENT_PROTOCOL
                    + (MAX_AGENT_PROTOCOL == MIN_AGENT_PROTOCOL ? "" : " to " + MAX_AGENT_PROTOCOL));
        }
    }
}
