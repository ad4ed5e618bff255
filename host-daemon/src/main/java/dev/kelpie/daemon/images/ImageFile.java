package dev.kelpie.daemon.images;

/** One file of an image: its name inside the image, size and sha256 (lowercase hex). */
public record ImageFile(String name, long sizeBytes, String sha256) {}
