package dev.kelpie.daemon.teleport;

import dev.kelpie.daemon.agent.GuestRefresh;
import dev.kelpie.daemon.errors.InvalidRequestException;
import dev.kelpie.daemon.hypervisor.SavedVmState;
import dev.kelpie.daemon.hypervisor.VmPlatform;
import dev.kelpie.daemon.images.BootImage;
import dev.kelpie.daemon.images.oci.OciBoot;
import dev.kelpie.daemon.images.ImageSource;
import dev.kelpie.daemon.sandboxes.IdleAction;
import dev.kelpie.daemon.sandboxes.Launch;
import dev.kelpie.daemon.sandboxes.SandboxConfig;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import dev.kelpie.daemon.sandboxes.SandboxRecord;
import dev.kelpie.teleport.RestoreGate;
import dev.kelpie.teleport.RestoreRejectedException;
import dev.kelpie.teleport.pkg.BlobNames;
import dev.kelpie.teleport.pkg.PackageKind;
import dev.kelpie.teleport.pkg.PackageManifest;
import dev.kelpie.teleport.pkg.PackageReader;
import dev.kelpie.teleport.pkg.SourceOciImage;
import dev.kelpie.teleport.pkg.SourceSandbox;
import dev.kelpie.teleport.pkg.WorkspacePrograms;
import dev.kelpie.teleport.pkg.WorkspaceTarCheck;
import dev.kelpie.teleport.store.FileTrees;
import dev.kelpie.teleport.store.PackageStore;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import dev.kelpie.daemon.network.NetworkPolicy;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.jboss.logging.Logger;

/**
 * Makes a new sandbox from a package. Everything that can refuse the package runs before anything is created: the
 * manifest's checks, the version gate, the target image, the platform, and every blob's hash (blobs are verified
 * while they are unpacked into staging). Then the sandbox is created through the manager like any other, resumed
 * from the saved VM or booted and given the workspace, and before it is READY its clock is stepped and its entropy
 * reseeded with a new generation number. A failure at any point leaves no sandbox, VM or file.
 */
public final class Restorer {

    private static final Logger LOG = Logger.getLogger(Restorer.class);
    private static final int MAX_NAMED_PROGRAMS = 5;

    private final SandboxManager sandboxes;
    private final ImageSource images;
    private final PackageStores stores;
    private final StagingArea staging;
    private final Clock clock;
    private final SecureRandom random;
    private final PackageReader reader = new PackageReader();

    public Restorer(SandboxManager sandboxes, ImageSource images, PackageStores stores, StagingArea staging, Clock clock,
            SecureRandom random) {
        this.sandboxes = sandboxes;
        this.images = images;
        this.stores = stores;
        this.staging = staging;
        this.clock = clock;
        this.random = random;
    }

    /** The new sandbox and what the caller should know (a PATCH difference). */
    public record Restored(SandboxRecord sandbox, List<String> warnings, PackageManifest manifest) {}

    /**
     * @param imageVersion empty to restore on the package's own image version
     */
    public Restored restore(String packageId, String storeName, String imageVersion, RestoreOverrides overrides)
            throws IOException, InterruptedException {
        PackageStore store = stores.get(storeName);
        PackageManifest manifest = reader.readManifest(store, packageId).manifest();
        String targetVersion = imageVersion.isEmpty() ? manifest.baseImage().version() : imageVersion;
        List<String> warnings = new ArrayList<>(RestoreGate.checkVersions(manifest, targetVersion));
        // A vm package too: one of another arch is then refused by the gate, naming both, rather than restored
        // emulated unasked.
        String arch = sandboxes.guestArchs().resolve(overrides.arch(), "spec_overrides.arch");
        BootImage image = images.resolve(targetVersion, arch);
        VmPlatform platform = sandboxes.vmPlatform(arch);
        RestoreGate.checkTarget(manifest, new RestoreGate.Target(image.version(), image.arch(), image.kernelSha256(),
                image.rootfsSha256(), Snapshotter.platformRef(platform)));
        // After the gate: a vm package from another backend is refused as such, with the way across (a checkpoint).
        sandboxes.requireArch(arch);
        SandboxConfig base = config(manifest, image, overrides, warnings);
        Optional<OciBoot> oci = ociImage(manifest, image, overrides, warnings);
        SandboxConfig config = oci.map(b -> base.withOciImage(b.oci().manifestDigest())).orElse(base);
        try {
            return restore(packageId, store, manifest, image, platform, config, warnings);
        } catch (RuntimeException | IOException | InterruptedException e) {
            // "Loses nothing" is also "adds nothing half-made": an image this restore pulled goes with it.
            oci.ifPresent(sandboxes::discardPulledOci);
            throw e;
        } finally {
            oci.ifPresent(OciBoot::release); // the restored sandbox's record holds the image now
        }
    }

    private Restored restore(String packageId, PackageStore store, PackageManifest manifest, BootImage image,
            VmPlatform platform, SandboxConfig config, List<String> warnings) throws IOException, InterruptedException {
        String arch = image.arch();
        if (!arch.equals(manifest.baseImage().arch())) {
            warnings.add("the package was taken on " + manifest.baseImage().arch() + " and is restored on " + arch
                    + (sandboxes.guestArchs().emulated(arch) ? " (emulated here)" : ""));
        }
        long generation = clock.millis();
        Path work = staging.newDirectory("restore-" + packageId);
        try {
            Launch launch = manifest.kind() == PackageKind.VM ? vmLaunch(store, manifest, platform, work, generation)
                    : checkpointLaunch(store, manifest, work, generation, image.arch(), warnings);
            SandboxRecord record = sandboxes.create(config, launch.fromPackage(packageId));
            warnings.forEach(w -> LOG.warnf("restore of package %s as sandbox %s: %s", packageId, record.id(), w));
            LOG.infof("package %s (%s) restored as sandbox %s on image %s", packageId, manifest.kind().wireName(),
                    record.id(), image.version());
            return new Restored(record, List.copyOf(warnings), manifest);
        } finally {
            FileTrees.deleteUnchecked(work);
        }
    }

    /**
     * The OCI image the restored sandbox boots: the package's digest (or the caller's reference), resolved (pulled
     * when absent) before anything is created and gated by {@link RestoreGate#checkOciImage} (and, for a {@code vm}
     * package, {@link RestoreGate#checkOciRoot}); the sandbox is then created from that exact digest, so a tag that
     * moves in between changes nothing. A refused image that was pulled for this restore is removed again.
     */
    private Optional<OciBoot> ociImage(PackageManifest manifest, BootImage image, RestoreOverrides overrides,
            List<String> warnings) throws InterruptedException {
        SourceOciImage packaged = manifest.sourceSandbox().ociImage();
        String target = !overrides.ociImage().isEmpty() ? overrides.ociImage()
                : packaged == null ? "" : packaged.pinnedReference();
        if (target.isEmpty()) {
            RestoreGate.checkOciImage(manifest, "", "", false);
            return Optional.empty();
        }
        OciBoot boot = sandboxes.prepareOci(target, image);
        try {
            warnings.addAll(RestoreGate.checkOciImage(manifest, boot.oci().manifestDigest(), boot.oci().repository(),
                    overrides.acceptOtherOciDigest()));
            RestoreGate.checkOciRoot(manifest, boot.rootSha256());
        } catch (RuntimeException e) {
            sandboxes.discardPulledOci(boot);
            throw e;
        }
        return Optional.of(boot);
    }

    /**
     * The memory blob is unpacked and streamed into the guest only the first time on this host: that restore also
     * freezes it (content-addressed by the blob's sha256), and every later restore of it maps the frozen RAM and
     * unpacks only the disk (ADR 0032).
     */
    private Launch vmLaunch(PackageStore store, PackageManifest manifest, VmPlatform platform, Path work, long generation)
            throws IOException {
        Path memory = work.resolve("memory");
        Path disk = work.resolve("disk");
        String memoryKey = manifest.blob(BlobNames.VM_MEMORY).map(dev.kelpie.teleport.pkg.BlobRef::sha256).orElse("");
        Optional<SavedVmState> frozen = memoryKey.isEmpty() ? Optional.empty() : sandboxes.frozenMemory(memoryKey, disk, platform);
        if (frozen.isPresent()) {
            reader.extract(store, manifest, BlobNames.VM_DISK, disk);
            return new Launch(frozen, agent -> refresh(agent, generation));
        }
        // Both blobs decompress at once: restore latency is what a vm package is for, and hosts have cores.
        CompletableFuture<Void> memoryDone = new CompletableFuture<>();
        Thread.ofVirtual().name("restore-memory-" + manifest.id()).start(() -> {
            try {
                reader.extract(store, manifest, BlobNames.VM_MEMORY, memory);
                memoryDone.complete(null);
            } catch (Throwable t) {
                memoryDone.completeExceptionally(t);
            }
        });
        try {
            reader.extract(store, manifest, BlobNames.VM_DISK, disk);
        } finally {
            awaitExtraction(memoryDone);
        }
        return new Launch(Optional.of(new SavedVmState(memory, disk, platform).withMemoryKey(memoryKey)),
                agent -> refresh(agent, generation));
    }

    private static void awaitExtraction(CompletableFuture<Void> extraction) throws IOException {
        try {
            extraction.join();
        } catch (CompletionException e) {
            switch (e.getCause()) {
                case IOException io -> throw io;
                case RuntimeException r -> throw r;
                default -> throw new IOException("extracting a blob failed: " + e.getCause(), e.getCause());
            }
        }
    }

    private Launch checkpointLaunch(PackageStore store, PackageManifest manifest, Path work, long generation,
            String arch, List<String> warnings) throws IOException {
        Path tar = work.resolve("workspace.tar");
        reader.extract(store, manifest, BlobNames.WORKSPACE, tar);
        String where = "package " + manifest.id() + " in store " + store.name();
        try (InputStream in = Files.newInputStream(tar)) {
            WorkspaceTarCheck.check(in, where);
        }
        try (InputStream in = Files.newInputStream(tar)) {
            foreignPrograms(WorkspacePrograms.foreignTo(arch, in, where), arch).ifPresent(warnings::add);
        }
        return new Launch(Optional.empty(), agent -> {
            try {
                AgentWorkspace.importTar(agent, tar);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException("importing the workspace of package " + manifest.id()
                        + " failed: " + e.getMessage(), e);
            }
            refresh(agent, generation);
        });
    }

    /** At most a few names: a workspace of built artifacts can hold thousands. */
    private static Optional<String> foreignPrograms(List<WorkspacePrograms.ForeignProgram> found, String arch) {
        if (found.isEmpty()) {
            return Optional.empty();
        }
        String named = found.stream().limit(MAX_NAMED_PROGRAMS).map(p -> "/workspace/" + p.path() + " (" + p.arch() + ")")
                .collect(java.util.stream.Collectors.joining(", "));
        return Optional.of("the workspace holds " + found.size() + " program(s) built for another architecture than"
                + " this " + arch + " guest, which will not run here until rebuilt: " + named
                + (found.size() > MAX_NAMED_PROGRAMS ? ", …" : ""));
    }

    private void refresh(io.grpc.ManagedChannel agent, long generation) {
        GuestRefresh.syncClock(agent, clock.millis());
        GuestRefresh.reseed(agent, random, generation);
    }

    private static SandboxConfig config(PackageManifest manifest, BootImage image, RestoreOverrides o,
            List<String> warnings) {
        SourceSandbox s = manifest.sourceSandbox();
        boolean vm = manifest.kind() == PackageKind.VM;
        if (vm && ((o.vcpuCount() != 0 && o.vcpuCount() != s.vcpuCount())
                || (o.memoryMib() != 0 && o.memoryMib() != s.memoryMib()))) {
            throw new InvalidRequestException("a vm package resumes with its own shape (" + s.vcpuCount() + " vCPU, "
                    + s.memoryMib() + " MiB); vcpu_count and memory_mib cannot be overridden — restore a checkpoint"
                    + " to change them");
        }
        Map<String, String> labels = new HashMap<>(s.labels());
        labels.putAll(o.labels());
        // The source's disk size: a vm package's saved disk has it anyway, and a checkpoint's workspace had that room.
        // Below this image's template (a checkpoint on another image, or a package of an older daemon, which said 0)
        // the template's size.
        long diskSizeMib = s.diskSizeMib() >= image.diskTemplateSizeMib() ? s.diskSizeMib() : 0;
        return new SandboxConfig(image.version(), o.vcpuCount() != 0 ? o.vcpuCount() : s.vcpuCount(),
                o.memoryMib() != 0 ? o.memoryMib() : s.memoryMib(), diskSizeMib, s.env(), labels,
                o.ttlMs() != 0 ? o.ttlMs() : s.ttlMs(), o.idleTimeoutMs() != 0 ? o.idleTimeoutMs() : s.idleTimeoutMs(),
                network(manifest, o, warnings), IdleAction.DELETE, image.arch());
    }

    /**
     * The caller's policy, or the package's when the caller accepts it, or none: a package is data from a store and
     * never chooses its own network. A {@code vm} package's saved devices decide whether it has a NIC.
     */
    private static NetworkPolicy network(PackageManifest manifest, RestoreOverrides o, List<String> warnings) {
        NetworkPolicy packaged = PackagedNetwork.toPolicy(manifest.sourceSandbox().network());
        boolean vm = manifest.kind() == PackageKind.VM;
        if (o.network().isPresent()) {
            NetworkPolicy wanted = o.network().get();
            if (vm && wanted.needsDevice() != packaged.needsDevice()) {
                throw new InvalidRequestException("a vm package's VM " + (packaged.needsDevice() ? "has" : "has no")
                        + " network device, which is part of its saved state: spec_overrides.network must "
                        + (packaged.needsDevice() ? "keep egress or a published port" : "have neither egress nor published"
                        + " ports") + " — restore a checkpoint to change that");
            }
            return wanted;
        }
        if (!packaged.needsDevice()) {
            return NetworkPolicy.NONE;
        }
        if (o.acceptPackagedNetwork()) {
            PackagedNetwork.refuseHostInternalEntries(packaged);
            warnings.add("the package's network policy applies, as accept_packaged_network asks: "
                    + packaged.reachability());
            return packaged;
        }
        if (vm) {
            throw new RestoreRejectedException("this vm package's VM has a network device (the package asks for "
                    + packaged.reachability() + "), and a package never chooses its own network: restore it with"
                    + " accept_packaged_network, or with spec_overrides.network keeping egress or a published port");
        }
        warnings.add("the package asks for network (" + packaged.reachability() + "); not applied, the sandbox has"
                + " none: pass accept_packaged_network to apply it, or spec_overrides.network");
        return NetworkPolicy.NONE;
    }
}
