package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.api.v1.CreateSandboxRequest;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.ExecRequest;
import dev.kelpie.api.v1.ExecResponse;
import dev.kelpie.api.v1.HostGrpc;
import dev.kelpie.api.v1.HostInfoRequest;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.api.v1.WarmPoolStatus;
import dev.kelpie.daemon.agent.StreamCollector;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A daemon with a warm pool of one VM: Create takes it, the pool refills, and the sandbox works. */
class WarmPoolIT {

    private static final Duration POOL_TIMEOUT = Duration.ofSeconds(180);

    @TempDir
    Path work;

    @Test
    void createTakesAWarmVmAndThePoolRefills() throws Exception {
        String imageDir = System.getProperty("kelpie.it.imageDir", "");
        Assumptions.assumeFalse(imageDir.isBlank(), "no image given (-Dkelpie.imageDir=...; scripts/dev passes it)");
        String[] args = {"-Dkelpie.images.dirs=" + imageDir, "-Dkelpie.qemu.accelerator=tcg", "-Dkelpie.probe.boot-timeout=2s",
                "-Dkelpie.sandboxes.warm-pool-size=1"};
        try (DaemonProcess daemon = DaemonProcess.startServing(work, "pool", args);
                UnixSocketChannels channels = new UnixSocketChannels()) {
            ManagedChannel channel = channels.open(daemon.socket);
            try {
                Await.until("the pool to hold a ready VM", POOL_TIMEOUT, () -> pool(channel).getReady() == 1);

                Sandbox sandbox = SandboxesGrpc.newBlockingStub(channel).create(CreateSandboxRequest.getDefaultInstance()).getSandbox();
                assertTrue(sandbox.getFromPool(), "served from the pool: " + sandbox);
                assertEquals(1, pool(channel).getTakenTotal());
                StreamCollector<ExecResponse> events = new StreamCollector<>();
                SandboxesGrpc.newStub(channel).exec(ExecRequest.newBuilder().setSandboxId(sandbox.getId())
                        .setCommand(SandboxesIT.sh("echo pooled")).build(), events);
                var outcome = events.await(Await.scaled(Duration.ofSeconds(60)));
                assertEquals(Status.Code.OK, outcome.status().getCode(), outcome.status().toString());
                assertEquals("pooled\n", SandboxesIT.stdout(outcome.messages()));

                Await.until("the pool to refill", POOL_TIMEOUT, () -> pool(channel).getReady() == 1);
                SandboxesGrpc.newBlockingStub(channel).delete(DeleteSandboxRequest.newBuilder().setId(sandbox.getId()).build());
            } finally {
                channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
            }
        }
    }

    private static WarmPoolStatus pool(ManagedChannel channel) {
        var info = HostGrpc.newBlockingStub(channel).info(HostInfoRequest.getDefaultInstance());
        assertEquals(1, info.getWarmPoolsCount(), info.toString());
        return info.getWarmPools(0);
    }
}
