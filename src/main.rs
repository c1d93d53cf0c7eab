//! The `deepvault` binary: everything lives in the library; see `deepvault::cli`.

fn main() -> std::process::ExitCode {
    limit_heap_arenas();
    deepvault::cli::main()
}

/// glibc gives each thread that meets contention a heap arena of its own, up to 8 per core, and
/// an arena keeps what it once held: the parse threads' megabyte-sized PDF buffers stayed
/// resident across many of them, and indexing 1 GB of TeX Live PDFs peaked at 589 MB (the
/// process and its PDF workers). One arena per core: 418 MB, and embedding is not slower
/// (docs/pdf.md). A fixed mmap threshold also kept the memory down, but made every tensor of
/// the embedding model a fresh mapping: 32 % slower embedding.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_heap_arenas() {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let arenas = libc::c_int::try_from(cores.clamp(2, 8)).unwrap_or(2);
    // SAFETY: mallopt only sets an allocator parameter, and no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_heap_arenas() {}
