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
 * @param required whether no VM can be started without it; the others degrade (see {@link VmSetup})
 */
public enum KrunFunction {
    INIT_LOG("krun_init_log", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), "1.13", false),
    SET_LOG_LEVEL("krun_set_log_level", FunctionDescriptor.of(JAVA_INT, JAVA_INT), "0.1", false),
    HAS_FEATURE("krun_has_feature", FunctionDescriptor.of(JAVA_INT, JAVA_LONG), "1.17.3", false),
    GET_MAX_VCPUS("krun_get_max_vcpus", FunctionDescriptor.of(JAVA_INT), "1.16", false),
    CREATE_CTX("krun_create_ctx", FunctionDescriptor.of(JAVA_INT), "0.1", true),
    FREE_CTX("krun_free_ctx", FunctionDescriptor.of(JAVA_INT, JAVA_INT), "0.1", false),
    SET_VM_CONFIG("krun_set_vm_config", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_BYTE, JAVA_INT), "0.1", true),
    SET_KERNEL("krun_set_kernel", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, ADDRESS), "1.11", true),
    ADD_DISK("krun_add_disk", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_BOOLEAN), "1.9.5", false),
    ADD_DISK2("krun_add_disk2", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_BOOLEAN), "1.10", false),
    ADD_VSOCK_PORT2("krun_add_vsock_port2", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_BOOLEAN), "1.10", true),
    SET_PORT_MAP("krun_set_port_map", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), "0.1.3", true),
    SET_CONSOLE_OUTPUT("krun_set_console_output", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), "1.8", false),
    SET_RLIMITS("krun_set_rlimits", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), "0.1.5", false),
    SET_ENV("krun_set_env", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), "1.3", true),
    START_ENTER("krun_start_enter", FunctionDescriptor.of(JAVA_INT, JAVA_INT), "0.1", true);

    private final String symbol;
    private final FunctionDescriptor descriptor;
    private final String since;
    private final boolean required;

    KrunFunction(String symbol, FunctionDescriptor descriptor, String since, boolean required) {
        this.symbol = symbol;
        this.descriptor = descriptor;
        this.since = since;
        this.required = required;
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

    public boolean required() {
        return required;
    }
}
