package dev.kelpie.daemon.images.oci;

import dev.kelpie.daemon.images.BootImage;
import dev.kelpie.daemon.images.ImageInUseException;
import dev.kelpie.daemon.images.ImageNotFoundException;
import dev.kelpie.daemon.images.cache.ImageCache;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Boots OCI images on our kernel: the image is pulled when absent (Create pulls, as {@code docker run} does), its
 * root is built with the agent of the base image whose kernel boots it (so agent and kernel always match), and the
 * kernel command line names the agent at {@link OciRootBuilder#AGENT_PATH} as init. The writable disk is the base
 * image's template, so the agent's overlay (upper layer and /workspace on the writable disk) works as for our images.
 */
public final class OciBootImages implements OciBootSource {

    /** Where image-build installs the agent in our roots (init=/sbin/kelpie-agent, /sbin being /usr/sbin). */
    static final String BASE_AGENT_PATH = "/usr/sbin/kelpie-agent";
    private static final Pattern INIT = Pattern.compile("(^|\\s)init=\\S*");
    private static final long DEBUGFS_TIMEOUT_SECONDS = 60;

    private final OciImageStore store;
    private final OciPuller puller;
    private final OciRootBuilder roots;

    public OciBootImages(OciImageStore store, OciPuller puller, OciRootBuilder roots) {
        this.store = store;
        this.puller = puller;
        this.roots = roots;
    }

    @Override
    public OciBoot prepare(String reference, BootImage base) throws InterruptedException {
        Optional<OciImageStore.Leased> cached = cached(reference);
        OciImageStore.Leased leased = cached.isPresent() ? cached.get() : leasePulled(pull(reference));
        OciImage image = leased.image();
        Path root;
        String rootSha256;
        try {
            root = root(image, base);
            rootSha256 = roots.rootSha256(image.manifestSha256()).orElseThrow(() -> new OciRootBuildException("the root"
                    + " of " + image.repository() + "@" + image.manifestDigest() + " is missing after it was built",
                    null));
        } catch (IOException | RuntimeException e) {
            leased.lease().close();
            if (cached.isEmpty()) {
                // What this Create pulled goes with it: a refused Create leaves the cache as it found it.
                removeUnlessUsed(image, List::of);
            }
            throw e instanceof IOException io ? new OciRootBuildException("cannot hash the root of "
                    + image.repository() + "@" + image.manifestDigest() + ": " + io.getMessage(), io)
                    : (RuntimeException) e;
        }
        BootImage boot = new BootImage(base.version(), base.arch(), base.directory(), base.kernel(),
                kernelCmdline(base.kernelCmdline()), root, base.diskTemplate(), base.diskTemplateSizeMib(),
                base.agentVersion(), base.agentProtocolVersion(), base.kernelSha256(), "");
        return new OciBoot(boot, image, reference, rootSha256, cached.isEmpty(), leased.lease());
    }

    @Override
    public void discard(OciBoot boot, Supplier<List<String>> users) {
        boot.release();
        removeUnlessUsed(boot.oci(), users);
    }

    /** Removes an image nobody else took up meanwhile; one that a sandbox (being) made from it holds stays. */
    private void removeUnlessUsed(OciImage image, Supplier<List<String>> users) {
        try {
            store.removeUnlessUsed(image, users);
        } catch (ImageNotFoundException | ImageInUseException keptOrGone) {
            // gone already, or another sandbox holds it now: either way not this caller's to remove
        }
    }

    /** The image a pull just installed, held; an Images.Remove in between is a clear failure, not a missing root. */
    private OciImageStore.Leased leasePulled(OciImage pulled) {
        try {
            return store.lease(pulled.manifestDigest());
        } catch (ImageNotFoundException e) {
            throw new ImageNotFoundException("OCI image " + pulled.repository() + "@" + pulled.manifestDigest()
                    + " was removed from the cache (Images.Remove or prune) right after it was pulled; try again");
        }
    }

    /** The base image's command line with init naming the injected agent. */
    static String kernelCmdline(String base) {
        Matcher m = INIT.matcher(base);
        String init = "init=" + OciRootBuilder.AGENT_PATH;
        return m.find() ? m.replaceFirst("$1" + Matcher.quoteReplacement(init)) : (base.strip() + " " + init).strip();
    }

    private Optional<OciImageStore.Leased> cached(String reference) {
        try {
            return Optional.of(store.lease(reference));
        } catch (ImageNotFoundException notCached) {
            if (reference.matches("sha256:[0-9a-f]{64}")) {
                throw notCached; // a bare digest names no registry to pull from
            }
            return Optional.empty();
        }
    }

    private OciImage pull(String reference) throws InterruptedException {
        try {
            return puller.pull(reference, progress -> {}).get();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() instanceof CompletionException c && c.getCause() != null
                    ? c.getCause() : e.getCause();
            if (cause instanceof RuntimeException r) {
                throw r;
            }
            throw new OciRootBuildException("pulling " + reference + " failed: " + cause, cause);
        }
    }

    private Path root(OciImage image, BootImage base) {
        ImageCache cache = store.cache();
        Path cached = cache.ociRoot(image.manifestSha256());
        if (Files.exists(cached)) {
            return cached;
        }
        Path staging = null;
        try {
            staging = cache.newStagingDir();
            Path agent = staging.resolve("kelpie-agent");
            extractAgent(base.rootfs(), agent);
            return roots.build(image, agent);
        } catch (IOException e) {
            throw new OciRootBuildException("cannot build the root of " + image.repository() + "@"
                    + image.manifestDigest() + ": " + e.getMessage(), e);
        } finally {
            if (staging != null) {
                cache.discard(staging);
            }
        }
    }

    /** Copies the agent out of the base image's root file system (read-only; debugfs needs no mount). */
    private static void extractAgent(Path rootfs, Path target) throws IOException {
        Path log = target.resolveSibling("debugfs.log");
        int exit = HostCommand.run(List.of("debugfs", "-R", "dump -p " + BASE_AGENT_PATH + " " + target,
                rootfs.toString()), log, DEBUGFS_TIMEOUT_SECONDS, "reading the agent out of " + rootfs);
        // debugfs exits 0 even when the file is missing: the dump itself is the proof.
        if (exit != 0 || !Files.isRegularFile(target) || Files.size(target) == 0) {
            throw new IOException("no agent at " + BASE_AGENT_PATH + " in " + rootfs + ": " + HostCommand.output(log));
        }
    }
}
