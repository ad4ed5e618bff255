package dev.kelpie.runner;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every Java descriptor against the checked-in libkrun 1.x header, type by type. A mismatch in width (an
 * {@code uint8_t} or {@code bool} bound as an int) still "works" on x86-64 at run time, so only this comparison finds it.
 */
class LibkrunAbiTest {

    private static final Pattern PROTOTYPE = Pattern.compile("^(int32_t|int)\\s+(krun_\\w+)\\((.*)\\);\\s*$");
    private static Map<String, FunctionDescriptor> header;

    @BeforeAll
    static void readHeader() throws IOException {
        header = parse(resource("/dev/kelpie/runner/libkrun.h"));
    }

    @Test
    void theHeaderHoldsTheWhole1xApi() {
        // 67 functions of the 1.x list plus krun_set_snd_device, which 1.19 still exports.
        assertTrue(header.size() >= 67, "only " + header.size() + " prototypes parsed");
        assertTrue(header.containsKey("krun_start_enter") && header.containsKey("krun_add_vsock_port2"));
    }

    @Test
    void everyBindingMatchesItsPrototypeTypeByType() {
        List<String> mismatches = new ArrayList<>();
        for (KrunFunction f : KrunFunction.values()) {
            FunctionDescriptor expected = header.get(f.symbol());
            if (expected == null) {
                mismatches.add(f.symbol() + ": not in libkrun.h");
            } else if (!expected.equals(f.descriptor())) {
                mismatches.add(f.symbol() + ": header " + expected + ", Java " + f.descriptor());
            }
        }
        assertEquals(List.of(), mismatches);
    }

    @Test
    void aWrongWidthIsAMismatch() {
        // What the check exists for: krun_set_vm_config's uint8_t vCPU count bound as an int.
        FunctionDescriptor intVcpus = FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT);
        assertNotEquals(header.get("krun_set_vm_config"), intVcpus);
        assertEquals(FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_BOOLEAN), header.get("krun_add_disk"));
        assertEquals(FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_SHORT, ADDRESS),
                header.get("krun_add_vhost_user_device"));
    }

    static Map<String, FunctionDescriptor> parse(String text) {
        Map<String, FunctionDescriptor> out = new LinkedHashMap<>();
        for (String line : text.lines().toList()) {
            Matcher m = PROTOTYPE.matcher(line.strip());
            if (!m.matches()) {
                continue;
            }
            List<MemoryLayout> params = new ArrayList<>();
            String list = m.group(3).strip();
            if (!list.isEmpty() && !list.equals("void")) {
                for (String param : list.split(",")) {
                    params.add(layout(param.strip(), line));
                }
            }
            out.put(m.group(2), FunctionDescriptor.of(cType(m.group(1), line), params.toArray(MemoryLayout[]::new)));
        }
        return out;
    }

    /** A parameter's layout: any pointer or array is an address; otherwise its type without the parameter name. */
    private static MemoryLayout layout(String param, String line) {
        if (param.contains("*") || param.contains("[")) {
            return ADDRESS;
        }
        String type = param.substring(0, param.lastIndexOf(' ')).replace("const ", "").strip();
        return cType(type, line);
    }

    private static java.lang.foreign.ValueLayout cType(String type, String line) {
        return switch (type) {
            case "int32_t", "uint32_t", "int", "uid_t", "gid_t" -> JAVA_INT;
            case "uint8_t" -> JAVA_BYTE;
            case "uint16_t" -> JAVA_SHORT;
            case "uint64_t", "size_t" -> JAVA_LONG;
            case "bool" -> JAVA_BOOLEAN;
            default -> throw new AssertionError("unknown C type '" + type + "' in: " + line);
        };
    }

    static String resource(String name) throws IOException {
        try (InputStream in = LibkrunAbiTest.class.getResourceAsStream(name)) {
            assertTrue(in != null, name + " is missing");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
