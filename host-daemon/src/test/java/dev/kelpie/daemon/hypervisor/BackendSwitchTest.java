package dev.kelpie.daemon.hypervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class BackendSwitchTest {

    /** Records what reaches it; adopts only records it made. */
    private static final class Recording implements Hypervisor {
        final String name;
        final List<String> calls = new ArrayList<>();

        Recording(String name) {
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public VmHandle boot(VmSpec spec) {
            calls.add("boot " + spec.vmId());
            return null;
        }

        @Override
        public VmHandle restore(VmSpec spec, SavedVmState state) {
            calls.add("restore " + spec.vmId());
            return null;
        }

        @Override
        public Optional<String> archUnavailableReason(String arch) {
            return Optional.empty();
        }

        @Override
        public VmPlatform platform(String arch) {
            return new VmPlatform(name, "1", "m", "c", arch);
        }

        @Override
        public Optional<VmHandle> adopt(VmRecord record) {
            calls.add("adopt " + record.vmId());
            return Optional.empty();
        }

        @Override
        public void killLeftovers(Path runtimeDir) {
            calls.add("sweep " + runtimeDir);
        }
    }

    private final Recording qemu = new Recording("qemu");
    private final Recording libkrun = new Recording("libkrun");
    private final AtomicReference<Optional<String>> selected = new AtomicReference<>(Optional.of("libkrun"));
    private final BackendSwitch backends = new BackendSwitch(Map.of("qemu", qemu, "libkrun", libkrun), selected::get);

    private static VmRecord record(String hypervisor, String id) {
        return new VmRecord(hypervisor, id, 1, 1, "kvm", Path.of("/vms", id), Path.of("/vms", id, "agent.sock"), null,
                Path.of("/vms", id, "console.log"), java.util.List.of(), "");
    }

    @Test
    void newVmsGoToTheSelectedBackendAndItsNameIsTheSwitchs() {
        assertEquals("libkrun", backends.name());
        assertEquals("libkrun", backends.platform("x86_64").hypervisor());
        selected.set(Optional.of("qemu"));
        assertEquals("qemu", backends.name());
        assertEquals("qemu", backends.platform("x86_64").hypervisor());
    }

    @Test
    void bootsAndRestoresGoToTheSelectedBackend() throws Exception {
        VmSpec spec = new VmSpec("vm1", Path.of("/vms/vm1"), new dev.kelpie.daemon.images.BootImage("1.0.0", "x86_64",
                Path.of("/img"), Path.of("/img/vmlinux"), "", Path.of("/img/rootfs.ext4"), Path.of("/img/disk.ext4"), 64,
                "0.1.0", 1, "", ""), 1, 256, 64);
        backends.boot(spec);
        selected.set(Optional.of("qemu"));
        backends.restore(spec, new SavedVmState(Path.of("/s/mem"), Path.of("/s/disk"), qemu.platform("x86_64")));
        assertEquals(List.of("boot vm1"), libkrun.calls);
        assertEquals(List.of("restore vm1"), qemu.calls);
    }

    @Test
    void aRunningVmGoesBackToTheBackendThatStartedIt() {
        backends.adopt(record("qemu", "a"));
        backends.adopt(record("libkrun", "b"));
        assertEquals(List.of("adopt a"), qemu.calls);
        assertEquals(List.of("adopt b"), libkrun.calls);
        assertEquals(Optional.empty(), backends.adopt(record("firecracker", "c")), "an unknown backend's VM is not adopted");
    }

    @Test
    void leftoversAreSweptForEveryBackend() {
        backends.killLeftovers(Path.of("/vms/x"));
        assertEquals(List.of("sweep /vms/x"), qemu.calls);
        assertEquals(List.of("sweep /vms/x"), libkrun.calls);
    }

    @Test
    void withNoWorkingBackendBootingSaysSo() {
        selected.set(Optional.empty());
        assertEquals("none", backends.name());
        VmException e = assertThrows(VmException.class, () -> backends.platform("x86_64"));
        assertTrue(e.getMessage().contains("no hypervisor backend works on this host"), e.getMessage());
    }
}
