package dev.kelpie.daemon.network;

import java.util.Optional;

/** Which network policies new sandboxes can have on the selected backend, for Host.Info. */
public record NetworkSupport(boolean egress, boolean portForwards, String description) {

    /**
     * @param egressUnsupported why the backend cannot give a guest the egress path, if it cannot
     * @param deviceUnsupported why it cannot give a guest a network device at all (for port forwards), if it cannot
     */
    public static NetworkSupport of(Optional<String> egressUnsupported, Optional<String> deviceUnsupported) {
        String none = "none (the default): loopback only, no network device";
        String egress = egressUnsupported.map(r -> "egress: unavailable, " + r).orElse("egress: outbound TCP only"
                + " through the daemon's allowlisting proxy, which the guest finds at " + GuestNetwork.proxyUrl()
                + " (http_proxy/https_proxy); no route, no DNS, never the host's own services, the daemon's API or"
                + " other sandboxes unless an allow entry names that exact IP");
        String forwards = deviceUnsupported.map(r -> "port forwards: unavailable, " + r)
                .orElse("port forwards: from 127.0.0.1 on the host only");
        return new NetworkSupport(egressUnsupported.isEmpty(), deviceUnsupported.isEmpty(),
                none + "; " + egress + "; " + forwards);
    }
}
