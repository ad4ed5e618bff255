package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.hypervisor.VmHandle;
import dev.kelpie.daemon.images.BootImage;
import io.grpc.ManagedChannel;

/**
 * A booted VM whose agent answered, not yet a sandbox. {@code id} names its runtime directory and becomes the id of
 * the sandbox it serves.
 *
 * @param discard kills the VM and removes its files
 */
record PooledVm(String id, BootImage image, VmHandle vm, ManagedChannel agent, Runnable discard) {}
