/*
 * libkrun 1.x public C ABI, as of v1.19.x `include/libkrun.h`: prototypes and constants only.
 *
 * This is a checked-in copy, not the upstream header. Comments, the display/input
 * structs of libkrun_display.h and the inline documentation are left out; the
 * prototypes keep upstream's parameter names and types.
 *
 * Two consumers rely on it:
 *   - LibkrunAbiTest parses it line by line and compares every Java FunctionDescriptor
 *     (KrunFunction) against the prototype of the same name. Each prototype must
 *     therefore stay on exactly one line, as `RET name(PARAMS);`.
 *   - The C test double (src/test/resources/krun-double/libkrun_double.c) includes it,
 *     so the compiler rejects any double whose signature drifts from this ABI.
 *
 * krun_add_vhost_user_device is on libkrun's main branch only (no 1.x release has
 * it yet); krun_set_snd_device is in v1.19.x but removed on main. Both are listed.
 *
 * libkrun is Copyright the libkrun authors and licensed under the Apache License 2.0.
 */
#ifndef KELPIE_LIBKRUN_H
#define KELPIE_LIBKRUN_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* krun_init_log: target_fd -1 means stderr. */
#define KRUN_LOG_TARGET_DEFAULT -1

#define KRUN_LOG_LEVEL_OFF 0
#define KRUN_LOG_LEVEL_ERROR 1
#define KRUN_LOG_LEVEL_WARN 2
#define KRUN_LOG_LEVEL_INFO 3
#define KRUN_LOG_LEVEL_DEBUG 4
#define KRUN_LOG_LEVEL_TRACE 5

#define KRUN_LOG_STYLE_AUTO 0
#define KRUN_LOG_STYLE_ALWAYS 1
#define KRUN_LOG_STYLE_NEVER 2

/* Ignore RUST_LOG in the environment. */
#define KRUN_LOG_OPTION_NO_ENV 1

#define KRUN_DISK_FORMAT_RAW 0
#define KRUN_DISK_FORMAT_QCOW2 1
#define KRUN_DISK_FORMAT_VMDK 2

#define KRUN_KERNEL_FORMAT_RAW 0
#define KRUN_KERNEL_FORMAT_ELF 1
#define KRUN_KERNEL_FORMAT_PE_GZ 2
#define KRUN_KERNEL_FORMAT_IMAGE_BZ2 3
#define KRUN_KERNEL_FORMAT_IMAGE_GZ 4
#define KRUN_KERNEL_FORMAT_IMAGE_ZSTD 5

/* krun_add_disk3 sync_mode. */
#define KRUN_SYNC_NONE 0
#define KRUN_SYNC_RELAXED 1
#define KRUN_SYNC_FULL 2

/* krun_has_feature; the gaps (3, 5) are unassigned upstream. */
#define KRUN_FEATURE_NET 0
#define KRUN_FEATURE_BLK 1
#define KRUN_FEATURE_GPU 2
#define KRUN_FEATURE_INPUT 4
#define KRUN_FEATURE_TEE 6
#define KRUN_FEATURE_AMD_SEV 7
#define KRUN_FEATURE_INTEL_TDX 8
#define KRUN_FEATURE_AWS_NITRO 9
#define KRUN_FEATURE_VIRGL_RESOURCE_MAP2 10
#define KRUN_FEATURE_INIT_BLOB 11

/* krun_add_vsock tsi_features. */
#define KRUN_TSI_HIJACK_INET 1
#define KRUN_TSI_HIJACK_UNIX 2

/* krun_add_net_* flags. */
#define NET_FLAG_VFKIT 1
#define NET_FLAG_DHCP_CLIENT 2

/* virtio-fs tag that krun_add_virtiofs3 treats as the guest root. */
#define KRUN_FS_ROOT_TAG "/dev/root"

int32_t krun_set_log_level(uint32_t level);
int32_t krun_init_log(int target_fd, uint32_t level, uint32_t style, uint32_t options);
int32_t krun_create_ctx(void);
int32_t krun_free_ctx(uint32_t ctx_id);
int32_t krun_set_vm_config(uint32_t ctx_id, uint8_t num_vcpus, uint32_t ram_mib);
int32_t krun_set_root(uint32_t ctx_id, const char *root_path);
int32_t krun_set_root_disk(uint32_t ctx_id, const char *disk_path);
int32_t krun_set_data_disk(uint32_t ctx_id, const char *disk_path);
int32_t krun_add_disk(uint32_t ctx_id, const char *block_id, const char *disk_path, bool read_only);
int32_t krun_add_disk2(uint32_t ctx_id, const char *block_id, const char *disk_path, uint32_t disk_format, bool read_only);
int32_t krun_add_disk3(uint32_t ctx_id, const char *block_id, const char *disk_path, uint32_t disk_format, bool read_only, bool direct_io, uint32_t sync_mode);
int32_t krun_set_mapped_volumes(uint32_t ctx_id, const char *const mapped_volumes[]);
int32_t krun_add_virtiofs(uint32_t ctx_id, const char *c_tag, const char *c_path);
int32_t krun_add_virtiofs2(uint32_t ctx_id, const char *c_tag, const char *c_path, uint64_t shm_size);
int32_t krun_add_virtiofs3(uint32_t ctx_id, const char *c_tag, const char *c_path, uint64_t shm_size, bool read_only);
int32_t krun_add_net_unixstream(uint32_t ctx_id, const char *c_path, int fd, uint8_t *const c_mac, uint32_t features, uint32_t flags);
int32_t krun_add_net_unixgram(uint32_t ctx_id, const char *c_path, int fd, uint8_t *const c_mac, uint32_t features, uint32_t flags);
int32_t krun_add_net_tap(uint32_t ctx_id, char *c_tap_name, uint8_t *const c_mac, uint32_t features, uint32_t flags);
int32_t krun_set_passt_fd(uint32_t ctx_id, int fd);
int32_t krun_set_gvproxy_path(uint32_t ctx_id, char *c_path);
int32_t krun_set_net_mac(uint32_t ctx_id, uint8_t *const c_mac);
int32_t krun_set_port_map(uint32_t ctx_id, const char *const port_map[]);
int32_t krun_set_gpu_options(uint32_t ctx_id, uint32_t virgl_flags);
int32_t krun_set_gpu_options2(uint32_t ctx_id, uint32_t virgl_flags, uint64_t shm_size);
int32_t krun_add_display(uint32_t ctx_id, uint32_t width, uint32_t height);
int32_t krun_display_set_edid(uint32_t ctx_id, uint32_t display_id, const uint8_t* edid_blob, size_t blob_size);
int32_t krun_display_set_dpi(uint32_t ctx_id, uint32_t display_id, uint32_t dpi);
int32_t krun_display_set_physical_size(uint32_t ctx_id, uint32_t display_id, uint16_t width_mm, uint16_t height_mm);
int32_t krun_display_set_refresh_rate(uint32_t ctx_id, uint32_t display_id, uint32_t refresh_rate);
int32_t krun_set_display_backend(uint32_t ctx_id, const void *display_backend, size_t backend_size);
int krun_add_input_device(uint32_t ctx_id, const void *config_backend, size_t config_backend_size, const void *events_backend, size_t events_backend_size);
int krun_add_input_device_fd(uint32_t ctx_id, int input_fd);
int32_t krun_add_vhost_user_device(uint32_t ctx_id, uint32_t device_type, const char *socket_path, const char *name, uint16_t num_queues, const uint16_t *queue_sizes);
int32_t krun_set_snd_device(uint32_t ctx_id, bool enable);
int32_t krun_set_rlimits(uint32_t ctx_id, const char *const rlimits[]);
int32_t krun_set_smbios_oem_strings(uint32_t ctx_id, const char *const oem_strings[]);
int32_t krun_set_workdir(uint32_t ctx_id, const char *workdir_path);
int32_t krun_set_exec(uint32_t ctx_id, const char *exec_path, const char *const argv[], const char *const envp[]);
int32_t krun_set_firmware(uint32_t ctx_id, const char *firmware_path);
int32_t krun_set_kernel(uint32_t ctx_id, const char *kernel_path, uint32_t kernel_format, const char *initramfs, const char *cmdline);
int32_t krun_set_env(uint32_t ctx_id, const char *const envp[]);
int32_t krun_set_tee_config_file(uint32_t ctx_id, const char *filepath);
int32_t krun_add_vsock_port(uint32_t ctx_id, uint32_t port, const char *c_filepath);
int32_t krun_add_vsock_port2(uint32_t ctx_id, uint32_t port, const char *c_filepath, bool listen);
int32_t krun_add_vsock(uint32_t ctx_id, uint32_t tsi_features);
int32_t krun_get_shutdown_eventfd(uint32_t ctx_id);
int32_t krun_set_console_output(uint32_t ctx_id, const char *c_filepath);
int32_t krun_setuid(uint32_t ctx_id, uid_t uid);
int32_t krun_setgid(uint32_t ctx_id, gid_t gid);
int32_t krun_set_nested_virt(uint32_t ctx_id, bool enabled);
int32_t krun_check_nested_virt(void);
int32_t krun_has_feature(uint64_t feature);
int32_t krun_get_max_vcpus(void);
int32_t krun_split_irqchip(uint32_t ctx_id, bool enable);
int32_t krun_disable_implicit_console(uint32_t ctx_id);
int32_t krun_disable_implicit_init(uint32_t ctx_id);
int32_t krun_get_default_init(const uint8_t **data_out, size_t *len_out);
int32_t krun_fs_add_overlay_file(uint32_t ctx_id, const char *fs_tag, const char *path, const uint8_t *data, size_t data_len, uint32_t mode, bool one_shot);
int32_t krun_fs_add_overlay_dir(uint32_t ctx_id, const char *fs_tag, const char *path, uint32_t mode);
int32_t krun_disable_implicit_vsock(uint32_t ctx_id);
int32_t krun_set_kernel_console(uint32_t ctx_id, const char *console_id);
int32_t krun_add_virtio_console_default(uint32_t ctx_id, int input_fd, int output_fd, int err_fd);
int32_t krun_add_serial_console_default(uint32_t ctx_id, int input_fd, int output_fd);
int32_t krun_add_virtio_console_multiport(uint32_t ctx_id);
int32_t krun_add_console_port_tty(uint32_t ctx_id, uint32_t console_id, const char *name, int tty_fd);
int32_t krun_add_console_port_inout(uint32_t ctx_id, uint32_t console_id, const char *name, int input_fd, int output_fd);
int32_t krun_set_root_disk_remount(uint32_t ctx_id, const char *device, const char *fstype, const char *options);
int32_t krun_start_enter(uint32_t ctx_id);

#ifdef __cplusplus
}
#endif

#endif /* KELPIE_LIBKRUN_H */
