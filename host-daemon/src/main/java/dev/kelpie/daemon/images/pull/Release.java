package dev.kelpie.daemon.images.pull;

import java.io.IOException;
import java.io.InputStream;
import java.util.OptionalLong;

/** One published release of a source: its files by name. */
public interface Release {

    /** Where the release is, for messages. */
    String location();

    /** The size of a file of the release, or empty when it has no such file. */
    OptionalLong size(String fileName);

    /**
     * Reads a file from {@code offsetBytes} on (a ranged request, so an interrupted download resumes).
     *
     * @throws ImagePullException when the source refuses (not found, rate limited, unavailable)
     * @throws IOException when the transfer fails
     */
    InputStream open(String fileName, long offsetBytes) throws IOException;
}
