package dev.kelpie.daemon.agent;

import com.google.protobuf.ByteString;
import dev.kelpie.agent.v1.AgentGrpc;
import dev.kelpie.agent.v1.ReseedRequest;
import dev.kelpie.agent.v1.SyncClockRequest;
import io.grpc.ManagedChannel;
import java.security.SecureRandom;
import java.util.concurrent.TimeUnit;

/**
 * Makes a guest that was frozen or copied fit the present: its clock stood still while paused or saved, and a
 * restored copy shares its entropy pool with every other copy of the same snapshot (two clones would otherwise draw
 * the same "random" numbers). See the snapshots reference on clone safety.
 */
public final class GuestRefresh {

    /** Entropy handed to a restored guest; the agent credits at least 64 bytes. */
    public static final int RESEED_ENTROPY_BYTES = 64;
    private static final long CALL_TIMEOUT_MS = 10_000;

    private GuestRefresh() {}

    /** Steps the guest clock to {@code hostNowMillis}. */
    public static void syncClock(ManagedChannel agent, long hostNowMillis) {
        AgentGrpc.newBlockingStub(agent).withDeadlineAfter(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS)
                .syncClock(SyncClockRequest.newBuilder()
                        .setHostTimeUnixNs(TimeUnit.MILLISECONDS.toNanos(hostNowMillis)).build());
    }

    /** Feeds fresh host entropy to the guest kernel and publishes a new generation number to the workload. */
    public static void reseed(ManagedChannel agent, SecureRandom random, long generation) {
        byte[] entropy = new byte[RESEED_ENTROPY_BYTES];
        random.nextBytes(entropy);
        AgentGrpc.newBlockingStub(agent).withDeadlineAfter(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS)
                .reseed(ReseedRequest.newBuilder().setEntropy(ByteString.copyFrom(entropy)).setGeneration(generation)
                        .build());
    }
}
