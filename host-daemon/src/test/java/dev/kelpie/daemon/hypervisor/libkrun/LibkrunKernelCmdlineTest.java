package dev.kelpie.daemon.hypervisor.libkrun;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class LibkrunKernelCmdlineTest {

    @Test
    void theImagesSerialConsoleBecomesLibkrunsVirtioConsole() {
        assertEquals("console=hvc0 root=/dev/vda ro init=/sbin/kelpie-agent panic=-1",
                LibkrunKernelCmdline.of("console=ttyS0 root=/dev/vda ro  init=/sbin/kelpie-agent console=tty0 panic=-1"));
        assertEquals("console=hvc0", LibkrunKernelCmdline.of("  "));
    }
}
