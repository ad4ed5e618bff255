package dev.kelpie.daemon.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.kelpie.api.v1.SandboxSpec;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/** A spec's sizes are unsigned on the wire: Java reads the top half of each range as negative numbers. */
class SandboxMapperTest {

    @Test
    void unsignedSizesAboveJavasRangeAreRefusedNamingTheFieldAndTheLimit() {
        Map<String, UnaryOperator<SandboxSpec.Builder>> tooLarge = Map.of(
                "spec.vcpu_count 4294967295 is out of range: at most 2147483647", b -> b.setVcpuCount(-1),
                "spec.memory_mib 2147483648 is out of range: at most 2147483647", b -> b.setMemoryMib(Integer.MIN_VALUE),
                "spec.disk_size_mib 4294967295 is out of range", b -> b.setDiskSizeMib(-1),
                "spec.ttl_ms 18446744073709551615 is out of range: at most 9223372036854775807", b -> b.setTtlMs(-1),
                "spec.idle_timeout_ms 9223372036854775808 is out of range", b -> b.setIdleTimeoutMs(Long.MIN_VALUE));
        for (var c : tooLarge.entrySet()) {
            SandboxSpec spec = c.getValue().apply(SandboxSpec.newBuilder()).build();
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> SandboxMapper.toConfig(spec, "qemu"), c.getKey());
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
            org.junit.jupiter.api.Assertions.assertTrue(e.getStatus().getDescription().startsWith(c.getKey()),
                    e.getStatus().getDescription());
        }
        assertEquals(2, SandboxMapper.toConfig(SandboxSpec.newBuilder().setVcpuCount(2).build(), "qemu").vcpuCount());
    }

    @Test
    void anIdleActionNeedsAnIdleTimeoutAndUnsetMeansDeleteAsBefore() {
        SandboxSpec withoutTimeout = SandboxSpec.newBuilder().setIdleAction(dev.kelpie.api.v1.IdleAction.IDLE_ACTION_SNAPSHOT)
                .build();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> SandboxMapper.toConfig(withoutTimeout, "qemu"));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertEquals("spec.idle_action snapshot needs spec.idle_timeout_ms, the idle time after which it happens",
                e.getStatus().getDescription());
        StatusRuntimeException unknown = assertThrows(StatusRuntimeException.class, () -> SandboxMapper.toConfig(
                SandboxSpec.newBuilder().setIdleTimeoutMs(1000).setIdleActionValue(9).build(), "qemu"));
        assertEquals(Status.Code.INVALID_ARGUMENT, unknown.getStatus().getCode());

        assertEquals(dev.kelpie.daemon.sandboxes.IdleAction.DELETE, SandboxMapper.toConfig(
                SandboxSpec.newBuilder().setIdleTimeoutMs(1000).build(), "qemu").idleAction());
        assertEquals(dev.kelpie.daemon.sandboxes.IdleAction.NONE, SandboxMapper.toConfig(SandboxSpec.newBuilder()
                .setIdleAction(dev.kelpie.api.v1.IdleAction.IDLE_ACTION_NONE).build(), "qemu").idleAction());
        var pause = SandboxMapper.toConfig(SandboxSpec.newBuilder().setIdleTimeoutMs(1000)
                .setIdleAction(dev.kelpie.api.v1.IdleAction.IDLE_ACTION_PAUSE).build(), "qemu");
        assertEquals(dev.kelpie.api.v1.IdleAction.IDLE_ACTION_PAUSE, SandboxMapper.toProto(new dev.kelpie.daemon.sandboxes
                .SandboxRecord("sb1", pause, dev.kelpie.daemon.sandboxes.SandboxState.SUSPENDED, "", 0, "qemu", "x86_64",
                "1.0", false, null, 0, "", null)).getSpec().getIdleAction());
    }
}
