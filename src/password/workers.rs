//! The argon2 workers: `hash_concurrency` dedicated threads, each keeping its argon2 memory for
//! every job it runs, so a flood of logins never allocates that memory per request.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::error::{Error, InternalError, InternalKind};

#[derive(Debug, Default)]
pub(super) struct Stats {
    pub(super) in_flight: AtomicUsize,
    pub(super) peak: AtomicUsize,
    pub(super) computations: AtomicU64,
    /// How many times a worker allocated (or grew) its kept argon2 memory.
    pub(super) allocations: AtomicU64,
    /// How many argon2 computations ran (a job may run more than one: a legacy verification
    /// padded with the dummy's work).
    pub(super) argon2_runs: AtomicU64,
}

/// What a worker runs, with the worker's reusable memory.
pub(super) type Job = Box<dyn FnOnce(&mut Workspace) + Send>;

/// Most argon2 memory one job may borrow beyond a worker's kept buffer: 256 MiB (blocks are
/// 1 KiB), far above any cost worth verifying and far below what would exhaust the host.
pub(super) const MAX_BORROWED_BLOCKS: usize = 256 * 1024;

/// A worker's argon2 memory, allocated at the first job and kept.
pub(super) struct Workspace {
    blocks: Vec<Block>,
    stats: Arc<Stats>,
    /// Blocks a worker keeps between jobs: the configured cost. A stored hash with a higher cost
    /// (made under stronger settings since lowered) borrows a buffer for that one job.
    keep: usize,
}

impl Workspace {
    /// Runs argon2 with `params` into `out`, on the kept memory when it is large enough.
    pub(super) fn hash_into(
        &mut self,
        algorithm: Algorithm,
        version: Version,
        params: Params,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), argon2::Error> {
        let needed = params.block_count();
        let argon = Argon2::new(algorithm, version, params);
        if needed > self.keep {
            // A stored cost beyond the cap (a tampered or foreign row: `m=4194304` asks for
            // 4 GiB) is a failed verification, never an allocation that aborts the process.
            if needed > MAX_BORROWED_BLOCKS {
                return Err(argon2::Error::MemoryTooMuch);
            }
            let mut scratch = Vec::new();
            scratch
                .try_reserve_exact(needed)
                .map_err(|_| argon2::Error::OutOfMemory)?;
            scratch.resize(needed, Block::default());
            return argon.hash_password_into_with_memory(password, salt, out, &mut scratch[..]);
        }
        if self.blocks.len() < needed {
            self.stats.allocations.fetch_add(1, Ordering::SeqCst);
            self.blocks.resize(needed, Block::default());
        }
        self.stats.argon2_runs.fetch_add(1, Ordering::SeqCst);
        argon.hash_password_into_with_memory(password, salt, out, &mut self.blocks[..needed])
    }
}

pub(super) fn spawn_workers(
    count: usize,
    keep: usize,
    stats: &Arc<Stats>,
) -> Result<mpsc::Sender<Job>, Error> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..count {
        let rx = Arc::clone(&rx);
        let stats = Arc::clone(stats);
        std::thread::Builder::new()
            .name(format!("assimetria-argon2-{i}"))
            .spawn(move || {
                let mut workspace = Workspace {
                    blocks: Vec::new(),
                    stats,
                    keep,
                };
                loop {
                    // The lock is held only while waiting for the next job, never while hashing.
                    let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok(job) = next else { return };
                    // A panicking job must not take the worker (and its memory) down with it.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut workspace)));
                }
            })
            .map_err(|_| Error::Internal(InternalError::new(InternalKind::Hashing)))?;
    }
    Ok(tx)
}
