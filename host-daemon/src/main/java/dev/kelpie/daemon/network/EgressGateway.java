package dev.kelpie.daemon.network;

import java.io.IOException;
import java.nio.file.Path;

/** Serves a sandbox's outbound path: whatever connects to {@code socket} is held to the sandbox's allowlist. */
public interface EgressGateway {

    /**
     * Starts serving {@code socket} (replacing a stale file there) until the returned handle is closed, counting the
     * sandbox's connections and bytes in {@code traffic}.
     *
     * @throws IOException when the socket cannot be served
     */
    AutoCloseable open(String sandboxId, Path socket, EgressAllowlist allowlist, EgressTraffic traffic) throws IOException;
}
