package dev.kelpie.daemon.images;

import java.util.List;

/** Where the sandbox manager finds base images. The image cache issue adds pulling and verification behind this. */
public interface ImageSource {

    /**
     * The image of {@code version} (empty: the newest available) for {@code arch}.
     *
     * @throws ImageNotFoundException naming what is available instead
     */
    BootImage resolve(String version, String arch);

    /** Every image found, newest version first. */
    List<BootImage> list();
}
