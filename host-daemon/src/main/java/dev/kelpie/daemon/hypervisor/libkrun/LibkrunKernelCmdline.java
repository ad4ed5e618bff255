package dev.kelpie.daemon.hypervisor.libkrun;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The image's kernel command line as a libkrun guest needs it: libkrun's console is a virtio console ({@code hvc0}),
 * not the serial port an image names for QEMU.
 */
final class LibkrunKernelCmdline {

    static final String CONSOLE = "console=hvc0";

    private LibkrunKernelCmdline() {}

    static String of(String imageCmdline) {
        String withoutConsole = Arrays.stream(imageCmdline.strip().split("\\s+")).filter(t -> !t.isEmpty())
                .filter(t -> !t.startsWith("console=")).collect(Collectors.joining(" "));
        return withoutConsole.isEmpty() ? CONSOLE : CONSOLE + " " + withoutConsole;
    }
}
