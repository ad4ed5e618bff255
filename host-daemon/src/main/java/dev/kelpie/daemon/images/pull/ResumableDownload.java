package dev.kelpie.daemon.images.pull;

import dev.kelpie.daemon.images.cache.BlobHashing;
import dev.kelpie.daemon.images.pull.ImagePullException.Reason;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Downloads one file into a partial file named by its expected sha256, hashing as it goes. A transfer that breaks or
 * stalls keeps what arrived, and the next attempt asks only for the rest (a Range request); bytes that do not hash to
 * the signed value are deleted, never kept.
 */
public final class ResumableDownload {

    private static final int BUFFER_BYTES = 256 * 1024;
    private static final long NANOS_PER_SECOND = 1_000_000_000L;

    private final ScheduledExecutorService watchdog;
    private final Duration stallTimeout;
    private final Duration progressInterval;

    public ResumableDownload(ScheduledExecutorService watchdog, Duration stallTimeout, Duration progressInterval) {
        this.watchdog = watchdog;
        this.stallTimeout = stallTimeout;
        this.progressInterval = progressInterval;
    }

    /**
     * Completes {@code partial} to {@code expectedSizeBytes} bytes hashing to {@code expectedSha256}.
     *
     * @param expectedSizeBytes -1 when the source does not say
     */
    void fetch(Release release, String file, long expectedSizeBytes, String expectedSha256, Path partial,
            Consumer<PullProgress> progress) throws IOException {
        fetch(release, file, expectedSizeBytes, expectedSha256, "the signed SHA256SUMS", partial, progress);
    }

    /**
     * As {@link #fetch(Release, String, long, String, Path, Consumer)}, naming what vouches for the sha256 in the
     * error (an OCI manifest vouches for its layers' digests).
     */
    public void fetch(Release release, String file, long expectedSizeBytes, String expectedSha256, String authority,
            Path partial, Consumer<PullProgress> progress) throws IOException {
        long have = Files.exists(partial) ? Files.size(partial) : 0;
        if (expectedSizeBytes >= 0 && have > expectedSizeBytes) {
            Files.delete(partial);
            have = 0;
        }
        MessageDigest digest = BlobHashing.newDigest();
        if (have > 0) {
            BlobHashing.update(digest, partial, have);
        }
        long received = have;
        if (expectedSizeBytes < 0 || have < expectedSizeBytes) {
            received = transfer(release, file, expectedSizeBytes, authority, partial, have, digest, progress);
        }
        if (expectedSizeBytes >= 0 && received < expectedSizeBytes) {
            throw new ImagePullException(Reason.UNAVAILABLE, "the download of " + file + " from " + release.location()
                    + " ended after " + received + " of " + expectedSizeBytes + " bytes; pulling again resumes it");
        }
        String actual = BlobHashing.hex(digest);
        if (!actual.equals(expectedSha256) || (expectedSizeBytes >= 0 && received != expectedSizeBytes)) {
            Files.deleteIfExists(partial);
            throw new ImagePullException(Reason.DAMAGED, file + " from " + release.location() + " has sha256 "
                    + actual + " (" + received + " bytes) but " + authority + " says " + expectedSha256);
        }
    }

    private long transfer(Release release, String file, long expectedSizeBytes, String authority, Path partial,
            long offset, MessageDigest digest, Consumer<PullProgress> progress) throws IOException {
        AtomicLong lastDataNanos = new AtomicLong(System.nanoTime());
        AtomicBoolean stalled = new AtomicBoolean();
        long received = offset;
        long startNanos = System.nanoTime();
        long lastReportNanos = 0;
        try (InputStream in = release.open(file, offset);
                FileChannel out = FileChannel.open(partial, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                        StandardOpenOption.APPEND)) {
            lastDataNanos.set(System.nanoTime()); // the stall clock starts when the body does, not at the request
            Thread reader = Thread.currentThread();
            AtomicBoolean finished = new AtomicBoolean();
            ScheduledFuture<?> watch = watchdog.scheduleAtFixedRate(() -> {
                synchronized (finished) {
                    if (!finished.get() && System.nanoTime() - lastDataNanos.get() > stallTimeout.toNanos()
                            && stalled.compareAndSet(false, true)) {
                        // Closing alone does not wake every stream's blocked read (the JDK HTTP client's waits on a
                        // queue); the interrupt does, and the close covers streams that ignore interrupts.
                        closeQuietly(in);
                        reader.interrupt();
                    }
                }
            }, stallTimeout.toMillis() / 4, stallTimeout.toMillis() / 4, TimeUnit.MILLISECONDS);
            try {
                byte[] buffer = new byte[BUFFER_BYTES];
                int n;
                while ((n = in.read(buffer)) >= 0) {
                    if (expectedSizeBytes >= 0 && received + n > expectedSizeBytes) {
                        throw new ImagePullException(Reason.DAMAGED, file + " from " + release.location()
                                + " is longer than the " + expectedSizeBytes + " bytes " + authority + " lists");
                    }
                    out.write(ByteBuffer.wrap(buffer, 0, n));
                    digest.update(buffer, 0, n);
                    received += n;
                    long now = System.nanoTime();
                    lastDataNanos.set(now);
                    if (now - lastReportNanos >= progressInterval.toNanos()) {
                        lastReportNanos = now;
                        long rate = (received - offset) * NANOS_PER_SECOND / Math.max(1, now - startNanos);
                        progress.accept(new PullProgress("downloading", file, received, Math.max(expectedSizeBytes, 0),
                                rate));
                    }
                }
            } catch (IOException e) {
                throw new ImagePullException(Reason.UNAVAILABLE, "the download of " + file + " from "
                        + release.location() + (stalled.get() ? " stalled: no data for " + stallTimeout.toSeconds() + " s"
                                : " broke: " + e.getMessage())
                        + " after " + received + (expectedSizeBytes >= 0 ? " of " + expectedSizeBytes : "")
                        + " bytes; pulling again resumes it", e);
            } finally {
                watch.cancel(false);
                synchronized (finished) {
                    finished.set(true);
                    if (stalled.get()) {
                        Thread.interrupted(); // the interrupt was ours, not a caller's
                    }
                }
            }
        } catch (ImagePullException e) {
            if (e.reason() == Reason.DAMAGED) {
                Files.deleteIfExists(partial);
            }
            throw e;
        }
        return received;
    }

    private static void closeQuietly(InputStream in) {
        try {
            in.close();
        } catch (IOException ignored) {
            // the read that fails next reports the stall
        }
    }
}
