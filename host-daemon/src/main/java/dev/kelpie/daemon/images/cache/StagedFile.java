package dev.kelpie.daemon.images.cache;

import java.nio.file.Path;

/** A file unpacked into a staging directory and hashed on the way, waiting to become a blob. */
public record StagedFile(String name, Path path, long sizeBytes, String sha256) {}
