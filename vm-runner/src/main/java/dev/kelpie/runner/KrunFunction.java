package dev.kelpie.runner;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.FunctionDescriptor;

/**
 * The libkrun 1.x functions the runner calls, with their C signatures as FFM descriptors. The descriptors must match
 * {@code libkrun.h} type by type ({@code LibkrunAbiTest}): on x86-64 a {@code uint8_t} or {@code bool} declared as an
 * int still works at run time, so nothing else would notice a wrong width. Only descriptors live here; method handles
 * are made at run time by {@link Libkrun}, so a native image holds no native address.
 *
 * @param since the first libkrun release whose header has the function, for error messages
 * @param need what its absence means
 */
public enum KrunFunction {
    INIT_LOG("krun_init_log", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), "1.13", Need.FALLBACK),
    SET_LOG_LEVEL("krun_set_log_level", FunctionDescriptor.of(JAVA_INT, JAVA_INT), "0.1", Need.FALLBACK),
    HAS_FEATURE("krun_has_feature", FunctionDescriptor.of(JAVA_INT, JAVA_LONG), "1.17.3", Need.FALLBACK),
    GET_MAX_VCPUS("krun_get_max_vcpus", FunctionDescriptor.of(JAVA_INT), "1.16", Need.FALLBACK),
    CREATE_CTX("krun_create_ctx", FunctionDescriptor.of(JAVA_INT), "0.1", Need.REQUIRED),
    FREE_CTX("krun_free_ctx", FunctionDescriptor.of(JAVA_INT, JAVA_INT), "0.1", Need.TIDINESS),
    SET_VM_CONFIG("krun_set_vm_config", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_BYTE, JAVA_INT), "0.1", Need.REQUIRED),
    SET_KERNEL("krun_set_kernel", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, ADDRESS), "1.11",
            Need.REQUIRED),
    ADD_DISK("krun_add_disk", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_BOOLEAN), "1.9.5", Need.FALLBACK),
    ADD_DISK2("krun_add_disk2", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_BOOLEAN), "1.10",
            Need.FALLBACK),
    ADD_VSOCK_PORT2("krun_add_vsock_port2", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_BOOLEAN), "1.10",
            Need.REQUIRED),
    SET_PORT_MAP("krun_set_port_map", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), "0.1.3", Need.REQUIRED),
    DISABLE_IMPLICIT_VSOCK("krun_disable_implicit_vsock", FunctionDescriptor.of(JAVA_INT, JAVA_INT), "1.17", Need.FALLBACK),
    ADD_VSOCK("krun_add_vsock", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT), "1.17", Need.FALLBACK),
    SET_CONSOLE_OUTPUT("krun_set_console_output", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), "1.8", Need.FALLBACK),
    SET_RLIMITS("krun_set_rlimits", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), "0.1.5", Need.FALLBACK),
    SET_ENV("krun_set_env", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), "1.3", Need.REQUIRED),
    START_ENTER("krun_start_enter", FunctionDescriptor.of(JAVA_INT, JAVA_INT), "0.1", Need.REQUIRED);

    /** What a library without the function means for a VM. */
    public enum Need {
        /** No VM can start without it. */
        REQUIRED,
        /** The runner works around its absence, with a note (see {@link VmSetup}); the probe lists it. */
        FALLBACK,
        /** Only tidies up a context that failed, in a process that ends right after anyway. */
        TIDINESS
    }

    private final String symbol;
    private final FunctionDescriptor descriptor;
    private final String since;
    private final Need need;

    KrunFunction(String symbol, FunctionDescriptor descriptor, String since, Need need) {
        this.symbol = symbol;
        this.descriptor = descriptor;
        this.since = since;
        this.need = need;
    }

    public String symbol() {
        return symbol;
    }

    public FunctionDescriptor descriptor() {
        return descriptor;
    }

    public String since() {
        return since;
    }

    public Need need() {
        return need;
    }
}
