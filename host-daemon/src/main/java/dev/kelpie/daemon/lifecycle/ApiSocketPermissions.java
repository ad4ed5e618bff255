package dev.kelpie.daemon.lifecycle;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import org.jboss.logging.Logger;

/**
 * Sets an API socket to 0660 once it is bound. The launcher's umask 007 already keeps everyone but the daemon's
 * user and group out from the moment of bind; this only drops the meaningless execute bits.
 */
final class ApiSocketPermissions {

    private static final Logger LOG = Logger.getLogger(ApiSocketPermissions.class);
    static final Set<PosixFilePermission> SOCKET_MODE = PosixFilePermissions.fromString("rw-rw----");

    private ApiSocketPermissions() {}

    static void restrict(Path socket) {
        try {
            Files.setPosixFilePermissions(socket, SOCKET_MODE);
        } catch (IOException | UnsupportedOperationException e) {
            LOG.warnf("could not set mode 0660 on %s (it keeps the umask's mode): %s", socket, e.getMessage());
        }
    }
}
