package dev.kelpie.daemon.images;

import java.nio.file.Path;

/**
 * A base image on disk, ready to boot: what a hypervisor needs from it.
 *
 * @param kernelSha256 the kernel's sha256 as image-build recorded it (a {@code vm} teleport package pins it); empty
 *     when the image does not list it
 * @param rootfsSha256 likewise for the read-only root filesystem
 */
public record BootImage(String version, String arch, Path directory, Path kernel, String kernelCmdline, Path rootfs,
        Path diskTemplate, long diskTemplateSizeMib, String agentVersion, int agentProtocolVersion, String kernelSha256,
        String rootfsSha256) {}
