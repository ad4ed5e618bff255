package dev.kelpie.cli;

import dev.kelpie.api.v1.PortForward;
import picocli.CommandLine.ITypeConverter;

/**
 * {@code --publish HOST:GUEST} (host loopback port to guest port, as {@code docker run -p 127.0.0.1:…} would) or
 * {@code --publish GUEST} (the daemon picks the host port and reports it).
 */
final class PublishConverter implements ITypeConverter<PortForward> {
    @Override
    public PortForward convert(String value) {
        String[] parts = value.strip().split(":", -1);
        if (parts.length > 2) {
            throw new IllegalArgumentException("'" + value + "' is not HOST_PORT:GUEST_PORT or GUEST_PORT"
                    + " (host ports are always on 127.0.0.1)");
        }
        int host = parts.length == 2 ? port(parts[0], value, 0) : 0;
        int guest = port(parts[parts.length - 1], value, 1);
        return PortForward.newBuilder().setHostPort(host).setGuestPort(guest).build();
    }

    private static int port(String digits, String value, int lowest) {
        try {
            int p = Integer.parseInt(digits);
            if (p >= lowest && p <= 65535) {
                return p;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("'" + value + "': port '" + digits + "' must be " + lowest + "..65535");
    }
}
