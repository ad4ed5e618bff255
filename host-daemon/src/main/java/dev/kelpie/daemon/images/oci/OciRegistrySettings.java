package dev.kelpie.daemon.images.oci;

import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * How the daemon reaches registries.
 *
 * @param insecure registry hosts ({@code host[:port]}) spoken to in plain HTTP; every other one needs HTTPS
 * @param credentials per registry host, basic credentials; they win over {@code dockerConfig}
 * @param dockerConfig a Docker-style {@code config.json} whose {@code auths} give credentials per host
 * @param caFiles PEM files of CAs trusted beside the system's trust store
 */
public record OciRegistrySettings(Set<String> insecure, Map<String, Credentials> credentials,
        Optional<Path> dockerConfig, java.util.List<Path> caFiles) {

    public OciRegistrySettings {
        insecure = Set.copyOf(insecure);
        credentials = Map.copyOf(credentials);
        caFiles = java.util.List.copyOf(caFiles);
    }

    public static OciRegistrySettings anonymous() {
        return new OciRegistrySettings(Set.of(), Map.of(), Optional.empty(), java.util.List.of());
    }

    /** A user name and password (or token) for one registry. */
    public record Credentials(String username, String password) {

        @Override
        public String toString() {
            return "Credentials[" + username + ", password hidden]";
        }
    }
}
