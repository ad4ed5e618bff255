package dev.kelpie.daemon.api;

import static dev.kelpie.daemon.teleport.PackageFixtures.randomBytes;
import static dev.kelpie.daemon.teleport.StagingAssertions.assertStagingEmpty;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.kelpie.api.v1.CopyPackageRequest;
import dev.kelpie.api.v1.DeletePackageRequest;
import dev.kelpie.api.v1.ExportPackageRequest;
import dev.kelpie.api.v1.ExportPackageResponse;
import dev.kelpie.api.v1.ImportPackageRequest;
import dev.kelpie.api.v1.ImportPackageResponse;
import dev.kelpie.api.v1.PackageSummary;
import dev.kelpie.api.v1.PackagesGrpc;
import dev.kelpie.daemon.grpc.StreamUpload;
import dev.kelpie.daemon.teleport.PackageFixtures;
import dev.kelpie.daemon.teleport.PackageService;
import dev.kelpie.daemon.teleport.PackageStores;
import dev.kelpie.daemon.teleport.StagingArea;
import dev.kelpie.teleport.pkg.PackageArchive;
import dev.kelpie.teleport.pkg.PackageManifest;
import dev.kelpie.teleport.store.LocalPackageStore;
import dev.kelpie.teleport.store.PackageStore;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Packages adapter over real local stores, through an in-process gRPC channel: the status a client sees, and what
 * a stream that goes wrong halfway leaves behind.
 */
class PackagesGrpcServiceTest {

    private static final long DEADLINE_SECONDS = 30;
    /** Short, so that a silent client is timed out within the test. */
    private static final java.time.Duration UPLOAD_IDLE = java.time.Duration.ofMillis(500);
    /** Where Linux lists the files a process holds open. */
    private static final Path OPEN_FILES = Path.of("/proc/self/fd");
    /** Many export chunks, so a client can stop reading halfway. */
    private static final int WORKSPACE_BYTES = 8 * GrpcChunkOutput.CHUNK_BYTES + 17;

    @TempDir
    Path state;
    private PackageStore local;
    private PackageStore other;
    private StagingArea staging;
    /** Every Export and Import the service ran, to see them end. */
    private final List<Future<?>> transfers = new CopyOnWriteArrayList<>();
    private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
    private Server server;
    private ManagedChannel channel;

    @BeforeEach
    void start() throws IOException {
        local = LocalPackageStore.open("local", state.resolve("packages"));
        other = LocalPackageStore.open("other", state.resolve("other"));
        staging = new StagingArea(state.resolve("teleport-staging"));
        PackageService packages = new PackageService(PackageStores.of(List.of(local, other), "local"), staging);
        String name = "packages-" + System.identityHashCode(this);
        server = InProcessServerBuilder.forName(name)
                .addService(new PackagesGrpcService(packages, task -> transfers.add(threads.submit(task)), UPLOAD_IDLE))
                .build().start();
        channel = InProcessChannelBuilder.forName(name).build();
    }

    @AfterEach
    void stop() throws InterruptedException {
        channel.shutdownNow().awaitTermination(DEADLINE_SECONDS, TimeUnit.SECONDS);
        server.shutdownNow().awaitTermination(DEADLINE_SECONDS, TimeUnit.SECONDS);
        threads.shutdownNow();
    }

    private PackagesGrpc.PackagesBlockingStub packages() {
        return PackagesGrpc.newBlockingStub(channel).withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS);
    }

    @Test
    void aCopyAnswersWithThePackageInTheStoreItWentTo() throws Exception {
        PackageFixtures.publish(local, state, "pkg-1", randomBytes(1, 1000));

        PackageSummary copied = packages().copy(CopyPackageRequest.newBuilder().setId("pkg-1").setToStore("other")
                .build()).getPackage();

        assertEquals("pkg-1", copied.getId());
        assertEquals("other", copied.getStore());
        assertEquals(List.of("pkg-1"), other.list());
    }

    @Test
    void aCopyOfACorruptPackageIsDataLossAndPublishesNothing() throws Exception {
        PackageFixtures.publish(local, state, "pkg-1", randomBytes(2, WORKSPACE_BYTES));
        PackageFixtures.flipByteOfWorkspace(state.resolve("packages"), "pkg-1");

        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> packages().copy(
                CopyPackageRequest.newBuilder().setId("pkg-1").setFromStore("local").setToStore("other").build()));

        assertEquals(Status.Code.DATA_LOSS, e.getStatus().getCode(), e.getStatus().toString());
        assertTrue(e.getStatus().getDescription().contains("workspace.tar.zst"), e.getStatus().getDescription());
        assertEquals(List.of(), other.list());
        assertStagingEmpty(staging);
    }

    @Test
    void anImportThatStartsWithDataIsInvalidArgumentAndWritesNothing() throws Exception {
        StreamUpload<ImportPackageRequest, ImportPackageResponse> upload = new StreamUpload<>("the daemon");
        PackagesGrpc.newStub(channel).withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS).import_(upload);

        upload.send(ImportPackageRequest.newBuilder().setData(ByteString.copyFromUtf8("no start first")).build());

        Status status = assertThrows(StatusRuntimeException.class, upload::answer).getStatus();
        assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode(), status.toString());
        assertTrue(status.getDescription().contains("first Import message must be start"), status.getDescription());
        awaitTransfersEnded();
        assertEquals(List.of(), local.list());
        assertFalse(Files.exists(staging.root()), "no staging directory was even made");
    }

    @Test
    void aClientThatGoesSilentIsTimedOutAndItsStagingFreed() throws Exception {
        // Silent from the start.
        StreamUpload<ImportPackageRequest, ImportPackageResponse> mute = new StreamUpload<>("the daemon");
        PackagesGrpc.newStub(channel).withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS).import_(mute);
        Status status = assertThrows(StatusRuntimeException.class, mute::answer).getStatus();
        assertEquals(Status.Code.DEADLINE_EXCEEDED, status.getCode(), status.toString());

        // Silent halfway: the start and part of an archive, then nothing (and no end).
        ByteArrayOutputStream archive = new ByteArrayOutputStream();
        PackageFixtures.publish(other, state, "pkg-1", randomBytes(4, WORKSPACE_BYTES));
        new PackageService(PackageStores.of(List.of(other), "other"), staging).export("pkg-1", other, archive);
        StreamUpload<ImportPackageRequest, ImportPackageResponse> stalled = new StreamUpload<>("the daemon");
        PackagesGrpc.newStub(channel).withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS).import_(stalled);
        stalled.send(ImportPackageRequest.newBuilder().setStart(dev.kelpie.api.v1.ImportPackageStart.newBuilder().setStore("local")).build());
        stalled.send(ImportPackageRequest.newBuilder().setData(ByteString.copyFrom(archive.toByteArray(), 0,
                archive.size() / 2)).build());
        status = assertThrows(StatusRuntimeException.class, stalled::answer).getStatus();
        assertEquals(Status.Code.DEADLINE_EXCEEDED, status.getCode(), status.toString());
        assertTrue(status.getDescription().contains("no message from the client for 500 ms during Import"),
                status.getDescription());

        awaitTransfersEnded();
        assertEquals(List.of(), local.list());
        assertStagingEmpty(staging);
    }

    @Test
    void anExportTheClientCancelsHalfwayEndsOnTheServerAndLeavesThePackageFree() throws Exception {
        PackageManifest manifest = PackageFixtures.publish(local, state, "pkg-1", randomBytes(3, WORKSPACE_BYTES));
        Context.CancellableContext call = Context.current().withCancellation();
        Iterator<ExportPackageResponse> chunks = call.call(() -> packages().export(export("pkg-1")));
        chunks.next();
        Path store = state.resolve("packages");
        assertEquals(Files.isDirectory(OPEN_FILES), !openFilesUnder(store).isEmpty(), "the export holds its blob open");

        call.cancel(null);

        awaitTransfersEnded();
        assertEquals(List.of(), openFilesUnder(store), "no file of the store is held open");
        ByteArrayOutputStream archive = new ByteArrayOutputStream();
        packages().export(export("pkg-1")).forEachRemaining(c -> archive.writeBytes(c.getData().toByteArray()));
        assertEquals(manifest, PackageArchive.unpack(new ByteArrayInputStream(archive.toByteArray()),
                state.resolve("unpacked"), "a later export"), "a later export sends the whole package");
        packages().delete(DeletePackageRequest.newBuilder().setId("pkg-1").build());
        assertEquals(List.of(), local.list());
    }

    private static ExportPackageRequest export(String id) {
        return ExportPackageRequest.newBuilder().setId(id).build();
    }

    /** Each transfer thread has returned: none is left waiting on a client that is gone. */
    private void awaitTransfersEnded() throws Exception {
        for (Future<?> transfer : transfers) {
            transfer.get(DEADLINE_SECONDS, TimeUnit.SECONDS);
        }
    }

    /** Files of this process open under {@code dir}; none where {@link #OPEN_FILES} is missing (not Linux). */
    private static List<Path> openFilesUnder(Path dir) throws IOException {
        List<Path> open = new ArrayList<>();
        if (!Files.isDirectory(OPEN_FILES)) {
            return open;
        }
        Path root = dir.toRealPath();
        try (Stream<Path> list = Files.list(OPEN_FILES)) {
            for (Path fd : list.toList()) {
                try {
                    Path target = Files.readSymbolicLink(fd);
                    if (target.startsWith(root)) {
                        open.add(target);
                    }
                } catch (IOException closedMeanwhile) {
                    // The listing's own descriptor, or one closed since: not a file of the store.
                }
            }
        }
        return open;
    }
}
