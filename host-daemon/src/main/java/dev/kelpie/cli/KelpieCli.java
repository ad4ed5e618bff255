package dev.kelpie.cli;

import dev.kelpie.daemon.agent.UnixSocketChannels;
import dev.kelpie.daemon.config.DefaultPathsConfigSource;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code kelpie}: the command-line client of kelpied. Talks gRPC to the daemon's Unix socket; every error the daemon
 * reports is printed with its status code, and the exit code says what failed (the command's own for exec).
 */
@Command(name = "kelpie", mixinStandardHelpOptions = true, version = "kelpie 0.1.0",
        description = "Run untrusted code in microVM sandboxes through kelpied.",
        subcommands = {InfoCommand.class, SandboxCommand.class, ExecCommand.class, CopyCommand.class,
                ProcessCommands.Ps.class, ProcessCommands.Attach.class, ImagesCommand.class, PackagesCommand.class,
                TeleportCommands.Snapshot.class, TeleportCommands.Restore.class, TeleportCommands.Teleport.class,
                StatsCommand.class, McpCommand.class, ForkCommand.class})
public final class KelpieCli {

    /** Exit code when the daemon answered with an error (a command's own exit code is passed through by exec). */
    static final int EXIT_API_ERROR = 70;

    @Option(names = "--socket", description = "kelpied's API socket (default: $KELPIE_API_SOCKET or the daemon's default)")
    Path socket;

    private UnixSocketChannels channels;
    private ManagedChannel channel;

    /** The channel to the daemon, opened on first use. */
    synchronized ManagedChannel channel() {
        if (channel == null) {
            Path path = socket != null ? socket : defaultSocket();
            if (!java.nio.file.Files.exists(path)) {
                throw io.grpc.Status.UNAVAILABLE.withDescription("no kelpied socket at " + path
                        + " (is kelpied running? pass --socket or set KELPIE_API_SOCKET)").asRuntimeException();
            }
            channels = new UnixSocketChannels();
            channel = channels.open(path);
        }
        return channel;
    }

    private static Path defaultSocket() {
        String env = System.getenv("KELPIE_API_SOCKET");
        return Path.of(env != null && !env.isBlank() ? env : new DefaultPathsConfigSource().getValue("kelpie.api.socket"));
    }

    synchronized void close() throws InterruptedException {
        if (channel != null) {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            channels.close();
        }
    }

    public static void main(String[] args) throws InterruptedException {
        // Library chatter (Netty's channel options, gRPC's retries) on stderr would mix with the command's own stderr.
        java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.SEVERE);
        for (var handler : java.util.logging.Logger.getLogger("").getHandlers()) {
            handler.setLevel(java.util.logging.Level.SEVERE);
        }
        KelpieCli cli = new KelpieCli();
        CommandLine commandLine = new CommandLine(cli);
        commandLine.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof StatusRuntimeException s) {
                cmd.getErr().println("kelpie: " + s.getStatus().getCode() + ": " + s.getStatus().getDescription());
                return EXIT_API_ERROR;
            }
            throw e;
        });
        int code = commandLine.execute(args);
        cli.close();
        System.exit(code);
    }
}
