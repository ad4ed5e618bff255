package dev.kelpie.daemon.hypervisor.probe;

/** Hardware or software acceleration a VM can run on, best first. */
public enum Accelerator {
    /** Linux KVM. */
    KVM("kvm"),
    /** macOS Hypervisor.framework. */
    HVF("hvf"),
    /** QEMU's software emulation: works everywhere, slowly. */
    TCG("tcg");

    private final String qemuName;

    Accelerator(String qemuName) {
        this.qemuName = qemuName;
    }

    /** The name QEMU's {@code -accel} option uses. */
    public String qemuName() {
        return qemuName;
    }

    /** The accelerator {@code kelpie.qemu.accelerator} names, in any case. */
    public static Accelerator fromConfig(String configured) {
        return fromQemuName(configured.toLowerCase(java.util.Locale.ROOT));
    }

    /** The accelerator QEMU names {@code qemuName}, as a VM record stores it. */
    public static Accelerator fromQemuName(String qemuName) {
        for (Accelerator accel : values()) {
            if (accel.qemuName.equals(qemuName)) {
                return accel;
            }
        }
        throw new IllegalArgumentException("unknown accelerator '" + qemuName + "' (expected kvm, hvf or tcg)");
    }
}
