package dev.kelpie.daemon.hypervisor.qemu;

import dev.kelpie.daemon.hypervisor.Executables;
import dev.kelpie.daemon.hypervisor.VmException;
import java.nio.file.Path;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The command qemu's user-mode stack runs for each guest connection to the egress proxy address: socat, joining the
 * connection (its stdin/stdout) to the daemon's proxy socket. A {@code guestfwd} to a chardev would carry one
 * connection only; a process per connection carries any number. qemu splits the command itself (no shell) and its
 * option parser treats commas as separators, so every path in it must be plain.
 *
 * @param binary the absolute path of socat
 */
public record EgressRelay(Path binary) {

    /** The name looked up on PATH. */
    public static final String PROGRAM = "socat";
    private static final Pattern PLAIN_PATH = Pattern.compile("[A-Za-z0-9/._+@-]+");

    /** socat as found on the daemon's PATH, else in Homebrew's bin directories. */
    public static Optional<EgressRelay> onPath() {
        return Executables.find(PROGRAM).map(EgressRelay::new);
    }

    String command(Path proxySocket, Path logDir) {
        String log = logDir.resolve("egress-relay.log").toString();
        for (String path : new String[] {binary.toString(), proxySocket.toString(), log}) {
            if (!PLAIN_PATH.matcher(path).matches()) {
                throw new VmException("cannot hand the path '" + path + "' to qemu's egress rule: only letters, digits"
                        + " and / . _ + @ - are safe there (move kelpie.state-dir to such a path)");
            }
        }
        return binary + " -lf " + log + " STDIO UNIX-CONNECT:" + proxySocket;
    }
}
