package dev.kelpie.daemon.lifecycle;

import dev.kelpie.daemon.config.KelpieConfig;
import io.quarkus.vertx.http.DomainSocketServerStart;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.ObservesAsync;
import jakarta.inject.Inject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import org.jboss.logging.Logger;

/**
 * Sets the API socket to 0660 once it is bound. The launcher's umask 007 already keeps everyone but the daemon's
 * user and group out from the moment of bind; this only drops the meaningless execute bits.
 */
@ApplicationScoped
public class ApiSocketPermissions {

    private static final Logger LOG = Logger.getLogger(ApiSocketPermissions.class);
    static final Set<PosixFilePermission> SOCKET_MODE = PosixFilePermissions.fromString("rw-rw----");

    private final KelpieConfig config;

    @Inject
    public ApiSocketPermissions(KelpieConfig config) {
        this.config = config;
    }

    void onBound(@ObservesAsync DomainSocketServerStart event) {
        try {
            Files.setPosixFilePermissions(config.api().socket(), SOCKET_MODE);
        } catch (IOException | UnsupportedOperationException e) {
            LOG.warnf("could not set mode 0660 on %s (it keeps the umask's mode): %s", config.api().socket(), e.getMessage());
        }
    }
}
