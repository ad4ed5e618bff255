//! Grows the writable disk's ext4 file system to fill its block device. The daemon makes a
//! sandbox's disk file bigger than the image's template when a Create asks for more room (a sparse
//! extension: the new space is a hole until written), and the kernel grows a mounted ext4 online
//! (EXT4_IOC_RESIZE_FS), so the image needs no resize2fs. The decision is pure, below; `grow`
//! does the system calls.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::time::Instant;

use crate::sys;

/// Where the primary superblock starts on the device, and how much of it is read.
pub const SUPERBLOCK_OFFSET_BYTES: u64 = 1024;
pub const SUPERBLOCK_BYTES: usize = 1024;

const EXT4_MAGIC: u16 = 0xEF53;
/// s_feature_incompat bit: block numbers are 64-bit (s_blocks_count_hi is valid).
const INCOMPAT_64BIT: u32 = 0x80;
/// Largest block count of a file system without the 64bit feature.
const MAX_BLOCKS_32BIT: u64 = u32::MAX as u64;
const MIB_BYTES: u64 = 1024 * 1024;

/// What the superblock says of the file system's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ext4Geometry {
    pub block_size_bytes: u64,
    pub blocks: u64,
    pub is_64bit: bool,
}

/// Reads the fields of an ext4 superblock (the 1024 bytes at offset 1024) that size it.
pub fn parse_superblock(sb: &[u8]) -> Result<Ext4Geometry, String> {
    if sb.len() < SUPERBLOCK_BYTES {
        return Err(format!("superblock too short: {} bytes", sb.len()));
    }
    let u32_at = |offset: usize| u32::from_le_bytes([sb[offset], sb[offset + 1], sb[offset + 2], sb[offset + 3]]);
    let magic = u16::from_le_bytes([sb[0x38], sb[0x39]]);
    if magic != EXT4_MAGIC {
        return Err(format!("no ext4 superblock (magic {:#06x})", magic));
    }
    let log_block_size = u32_at(0x18);
    // 1 KiB << 6 = 64 KiB, the largest block size ext4 knows.
    if log_block_size > 6 {
        return Err(format!("implausible s_log_block_size {}", log_block_size));
    }
    let is_64bit = u32_at(0x60) & INCOMPAT_64BIT != 0;
    let high = if is_64bit { u64::from(u32_at(0x150)) } else { 0 };
    Ok(Ext4Geometry { block_size_bytes: 1024 << log_block_size, blocks: high << 32 | u64::from(u32_at(0x04)), is_64bit })
}

/// The block count to grow the file system to so that it fills a device of `device_bytes`, or
/// `None` when it fills it already (a disk of the template's size, or one grown on an earlier boot).
pub fn grown_block_count(device_bytes: u64, fs: &Ext4Geometry) -> Option<u64> {
    let mut device_blocks = device_bytes / fs.block_size_bytes;
    if !fs.is_64bit {
        device_blocks = device_blocks.min(MAX_BLOCKS_32BIT);
    }
    if device_blocks > fs.blocks {
        Some(device_blocks)
    } else {
        None
    }
}

/// Grows the ext4 file system of `device`, mounted on `mountpoint`, to the device's size, and logs
/// what it did. A failure is returned with what the sandbox keeps: boot goes on with the smaller
/// file system, which still works.
pub fn grow(device: &str, mountpoint: &str) -> io::Result<()> {
    let (fs_type, before_bytes) = sys::filesystem_type_and_bytes(mountpoint)?;
    if fs_type != libc::EXT4_SUPER_MAGIC as u64 {
        // The disk did not mount (an ephemeral tmpfs took its place): there is nothing to grow.
        return Ok(());
    }
    let disk = File::open(device)?;
    let device_bytes = sys::block_device_bytes(&disk)?;
    let mut sb = vec![0u8; SUPERBLOCK_BYTES];
    disk.read_exact_at(&mut sb, SUPERBLOCK_OFFSET_BYTES)?;
    let geometry = parse_superblock(&sb).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {}", device, e)))?;
    let target = match grown_block_count(device_bytes, &geometry) {
        Some(target) => target,
        None => return Ok(()),
    };
    crate::log!(
        "init: the writable disk {} has {} MiB, its file system {} MiB; growing it online to {} blocks of {} bytes",
        device,
        device_bytes / MIB_BYTES,
        geometry.blocks * geometry.block_size_bytes / MIB_BYTES,
        target,
        geometry.block_size_bytes
    );
    let started = Instant::now();
    let dir = File::open(mountpoint)?;
    if let Err(err) = sys::ext4_resize(&dir, target) {
        return Err(io::Error::new(
            err.kind(),
            format!(
                "growing the file system on {} to {} MiB failed: {}; the sandbox keeps {} MiB of disk",
                device,
                target * geometry.block_size_bytes / MIB_BYTES,
                err,
                before_bytes / MIB_BYTES
            ),
        ));
    }
    let after_bytes = sys::filesystem_type_and_bytes(mountpoint).map(|(_, bytes)| bytes).unwrap_or(0);
    crate::log!(
        "init: grew the file system on {} in {} ms: {} MiB before, {} MiB now (as df counts)",
        device,
        started.elapsed().as_millis(),
        before_bytes / MIB_BYTES,
        after_bytes / MIB_BYTES
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB_BYTES: u64 = 1024 * MIB_BYTES;

    fn superblock(blocks: u64, log_block_size: u32, is_64bit: bool) -> Vec<u8> {
        let mut sb = vec![0u8; SUPERBLOCK_BYTES];
        sb[0x04..0x08].copy_from_slice(&(blocks as u32).to_le_bytes());
        sb[0x18..0x1c].copy_from_slice(&log_block_size.to_le_bytes());
        sb[0x38..0x3a].copy_from_slice(&EXT4_MAGIC.to_le_bytes());
        if is_64bit {
            sb[0x60..0x64].copy_from_slice(&INCOMPAT_64BIT.to_le_bytes());
            sb[0x150..0x154].copy_from_slice(&((blocks >> 32) as u32).to_le_bytes());
        }
        sb
    }

    fn geometry(blocks: u64) -> Ext4Geometry {
        Ext4Geometry { block_size_bytes: 4096, blocks, is_64bit: true }
    }

    #[test]
    fn parses_the_template_superblock_fields() {
        // The image's template: 1 GiB of 4 KiB blocks, 64bit.
        assert_eq!(parse_superblock(&superblock(262_144, 2, true)), Ok(geometry(262_144)));
        let huge = parse_superblock(&superblock(5 << 32 | 7, 2, true)).unwrap();
        assert_eq!(huge.blocks, 5 << 32 | 7);
        let small = parse_superblock(&superblock(2048, 0, false)).unwrap();
        assert_eq!((small.block_size_bytes, small.blocks, small.is_64bit), (1024, 2048, false));
    }

    #[test]
    fn refuses_what_is_not_an_ext4_superblock() {
        assert!(parse_superblock(&[0u8; SUPERBLOCK_BYTES]).unwrap_err().contains("no ext4 superblock"));
        assert!(parse_superblock(&[0u8; 10]).unwrap_err().contains("too short"));
        assert!(parse_superblock(&superblock(1, 40, true)).unwrap_err().contains("s_log_block_size"));
    }

    #[test]
    fn a_disk_of_the_template_size_is_left_alone() {
        assert_eq!(grown_block_count(GIB_BYTES, &geometry(262_144)), None);
        // A partial block at the end is no room for a block.
        assert_eq!(grown_block_count(GIB_BYTES + 4095, &geometry(262_144)), None);
    }

    #[test]
    fn a_bigger_disk_gives_its_whole_blocks() {
        assert_eq!(grown_block_count(GIB_BYTES + 512 * MIB_BYTES, &geometry(262_144)), Some(393_216));
        assert_eq!(grown_block_count(GIB_BYTES + 4096 + 100, &geometry(262_144)), Some(262_145));
    }

    #[test]
    fn a_file_system_bigger_than_its_device_is_never_shrunk() {
        assert_eq!(grown_block_count(512 * MIB_BYTES, &geometry(262_144)), None);
    }

    #[test]
    fn without_64bit_the_block_count_stops_at_32_bits() {
        let fs = Ext4Geometry { block_size_bytes: 1024, blocks: 1 << 20, is_64bit: false };
        assert_eq!(grown_block_count(8 * 1024 * GIB_BYTES, &fs), Some(u32::MAX as u64));
    }
}
