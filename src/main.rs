//! The `deepvault` binary: everything lives in the library; see `deepvault::cli`.

fn main() -> std::process::ExitCode {
    keep_large_blocks_out_of_the_heap();
    deepvault::cli::main()
}

/// glibc raises its mmap threshold each time it frees a block it had mapped (up to 32 MB), after
/// which every PDF's bytes and text (megabytes each, on two parse threads) are carved from heap
/// arenas that stay resident: indexing 1 GB of TeX Live PDFs peaked at 380 MB in this process.
/// Setting the threshold (to glibc's own starting value) stops it from moving: 209 MB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_large_blocks_out_of_the_heap() {
    // SAFETY: mallopt only sets an allocator parameter, and no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_large_blocks_out_of_the_heap() {}
