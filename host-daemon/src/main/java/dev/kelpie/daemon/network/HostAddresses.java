package dev.kelpie.daemon.network;

import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.util.Collections;
import java.util.HashSet;
import java.util.Set;

/** The addresses of this host's interfaces, read when asked: interfaces come and go (VPNs, Wi-Fi). */
public final class HostAddresses {

    private HostAddresses() {}

    public static Set<InetAddress> current() {
        Set<InetAddress> out = new HashSet<>();
        try {
            for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                out.addAll(Collections.list(nic.getInetAddresses()));
            }
        } catch (SocketException e) {
            // No interface list: loopback and link-local are still refused by kind.
        }
        return out;
    }
}
