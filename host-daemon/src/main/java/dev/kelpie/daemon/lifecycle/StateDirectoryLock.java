package dev.kelpie.daemon.lifecycle;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * An exclusive lock on the daemon's state directory, held for the life of the process.
 *
 * <p>The kernel drops the lock when the holder dies, so a {@code kill -9}ed daemon never blocks the next one,
 * while a live daemon always does. The lock file also records the holder's pid, for the error message.
 */
public final class StateDirectoryLock implements AutoCloseable {

    static final String LOCK_FILE_NAME = "kelpied.lock";

    private final FileChannel channel;
    private final FileLock lock;

    private StateDirectoryLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * Creates the directory if needed and takes its lock.
     *
     * @throws DaemonStartupException if another process holds it, or the directory cannot be used
     */
    public static StateDirectoryLock acquire(Path stateDir) {
        Path lockFile = stateDir.resolve(LOCK_FILE_NAME);
        FileChannel channel = null;
        try {
            Files.createDirectories(stateDir);
            channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE);
            FileLock lock = tryLock(channel);
            if (lock == null) {
                String holder = readHolder(channel);
                channel.close();
                throw new DaemonStartupException("another kelpied" + holder + " is already running on state directory "
                        + stateDir + "; stop it first, or give this one its own kelpie.state-dir");
            }
            channel.truncate(0);
            channel.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
            channel.force(false);
            return new StateDirectoryLock(channel, lock);
        } catch (IOException e) {
            closeQuietly(channel);
            throw new DaemonStartupException("cannot use state directory " + stateDir + ": " + describe(e), e);
        }
    }

    /** A lock held by this very JVM shows up as an exception rather than null; both mean "taken". */
    private static FileLock tryLock(FileChannel channel) throws IOException {
        try {
            return channel.tryLock();
        } catch (java.nio.channels.OverlappingFileLockException e) {
            return null;
        }
    }

    private static String readHolder(FileChannel channel) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(32);
        channel.read(buf, 0);
        String pid = new String(buf.array(), 0, buf.position(), StandardCharsets.US_ASCII).strip();
        return pid.isEmpty() ? "" : " (pid " + pid + ")";
    }

    static String describe(IOException e) {
        String kind = e.getClass().getSimpleName().replace("Exception", "").replaceAll("([a-z])([A-Z])", "$1 $2");
        return e.getMessage() == null ? kind : kind.toLowerCase() + ": " + e.getMessage();
    }

    private static void closeQuietly(FileChannel channel) {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // Already failing; the original error matters.
            }
        }
    }

    @Override
    public void close() throws IOException {
        try {
            lock.release();
        } finally {
            channel.close();
        }
    }
}
