package dev.kelpie.daemon.images.pull;

import java.util.Map;
import java.util.OptionalLong;

/** A release whose files and sizes one listing call returned (GitHub's assets, an S3 prefix). */
abstract class ListedRelease implements Release {

    private final String location;
    private final Map<String, Long> sizes;

    ListedRelease(String location, Map<String, Long> sizes) {
        this.location = location;
        this.sizes = Map.copyOf(sizes);
    }

    @Override
    public final String location() {
        return location;
    }

    @Override
    public final OptionalLong size(String fileName) {
        Long size = sizes.get(fileName);
        return size == null ? OptionalLong.empty() : OptionalLong.of(size);
    }
}
