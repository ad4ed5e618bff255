package dev.kelpie.cli;

import dev.kelpie.api.v1.BackendProbe;
import dev.kelpie.api.v1.GuestArch;
import dev.kelpie.api.v1.HostGrpc;
import dev.kelpie.api.v1.HostInfoRequest;
import dev.kelpie.api.v1.HostInfoResponse;
import dev.kelpie.api.v1.WarmPoolStatus;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;

/** {@code kelpie info}: what an operator needs to debug a host. */
@Command(name = "info", description = "Show the daemon, the host, its backends and the warm pool.")
final class InfoCommand implements Callable<Integer> {

    @ParentCommand
    KelpieCli cli;

    @Override
    public Integer call() {
        HostInfoResponse info = HostGrpc.newBlockingStub(cli.channel()).info(HostInfoRequest.getDefaultInstance());
        System.out.printf("daemon     %s (API %s), state in %s%n", info.getDaemonVersion(), info.getApiVersion(), info.getStateDir());
        System.out.printf("host       %s/%s, %d CPUs, %d MiB%n", info.getHostOs(), info.getHostArch(), info.getHostCpuCount(),
                info.getHostMemoryMib());
        System.out.printf("backend    %s: %s%n", info.getSelectedBackend().isEmpty() ? "none" : info.getSelectedBackend(),
                info.getSelectionReason());
        for (BackendProbe b : info.getBackendsList()) {
            System.out.printf("  %-8s %s %s%s%n", b.getName(), b.getStatus().name().replace("PROBE_STATUS_", "").toLowerCase(),
                    b.getVersion(), b.getReason().isEmpty() ? "" : " (" + b.getReason() + ")");
            b.getAcceleratorsList().forEach(a -> System.out.printf("    %-6s %s%s%n", a.getName(),
                    a.getStatus().name().replace("PROBE_STATUS_", "").toLowerCase(), a.getReason().isEmpty() ? "" : ": " + a.getReason()));
        }
        for (GuestArch a : info.getGuestArchsList()) {
            System.out.printf("guest      %-8s %s%s%s%n", a.getArch(), a.getAvailable() ? "available" : "unavailable",
                    (a.getEmulated() ? ", emulated (TCG: slow)" : ", native") + (a.getDefault() ? ", default" : ""),
                    a.getReason().isEmpty() ? "" : ": " + a.getReason());
        }
        System.out.printf("sandboxes  %d running%n", info.getRunningSandboxes());
        System.out.printf("network    egress %s, port forwards %s: %s%n", info.getNetwork().getEgress() ? "yes" : "no",
                info.getNetwork().getPortForwards() ? "yes" : "no", info.getNetwork().getDescription());
        for (WarmPoolStatus p : info.getWarmPoolsList()) {
            System.out.printf("warm pool  image %s/%s%s, %d vCPU %d MiB: %d/%d ready, %d booting, %d taken%s%n",
                    p.getImageVersion(), p.getArch(), p.getEmulated() ? " (emulated)" : "", p.getVcpuCount(), p.getMemoryMib(), p.getReady(), p.getTargetSize(),
                    p.getBooting(), p.getTakenTotal(), p.getLastError().isEmpty() ? "" : "; last error: " + p.getLastError());
        }
        var cache = info.getImageCache();
        System.out.printf("images     %d cached, %s, in %s%n", cache.getCachedImages(),
                ProgressBar.bytes(cache.getCachedBytes()), cache.getDir());
        System.out.printf("  sources  %s%n", cache.getSourcesCount() == 0 ? "none configured (kelpie.images.sources.*)"
                : String.join(", ", cache.getSourcesList()));
        System.out.printf("  trusted  %s%n", String.join(", ", cache.getTrustedKeyIdsList()));
        for (var store : info.getPackageStoresList()) {
            System.out.printf("store      %s%s: %s, %s%n", store.getName(), store.getDefault() ? " (default)" : "",
                    store.getLocation(), store.getSealed() ? "sealed" : "NOT sealed (env values are stored in the clear)");
        }
        return 0;
    }
}
