package dev.kelpie.daemon.images;

import java.nio.file.Path;

/** A base image on disk, ready to boot: what a hypervisor needs from it. */
public record BootImage(String version, String arch, Path directory, Path kernel, String kernelCmdline, Path rootfs,
        Path diskTemplate, long diskTemplateSizeMib, String agentVersion, int agentProtocolVersion) {}
