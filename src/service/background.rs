//! The service's background work and its orderly end: periodic tasks (the revocation poller,
//! the writer of API keys' last use) that a wake-up can run early, tasks that run until the stop
//! (the revocation feed's follower), detached jobs (the mail a reset or a registration sends)
//! that shutdown waits for, and the stop signal.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// The background tasks of one service and the signal that stops them.
pub(crate) struct Background {
    stop: watch::Sender<bool>,
    periodic: Mutex<Vec<JoinHandle<()>>>,
    /// Detached jobs still running, and the signal each one's end gives.
    jobs: Arc<Jobs>,
}

#[derive(Default)]
struct Jobs {
    running: AtomicUsize,
    done: Notify,
}

/// Decrements the running count when a job ends, however it ends (a panic included).
struct JobGuard(Arc<Jobs>);

impl Drop for JobGuard {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.done.notify_waiters();
        }
    }
}

impl Background {
    pub(crate) fn new() -> Self {
        Self {
            stop: watch::Sender::new(false),
            periodic: Mutex::new(Vec::new()),
            jobs: Arc::new(Jobs::default()),
        }
    }

    /// Whether [`stop`](Self::stop) has been called: long work (a purge) checks it between its
    /// steps, so that a shutdown does not wait for all of it.
    pub(crate) fn is_stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Runs `tick` on `target` every `interval(target)`, or at once when `wake` is notified,
    /// until the target is dropped or the background is stopped. The task holds only a weak
    /// reference, so it never keeps a service alive; a stop waits for a tick in progress.
    pub(crate) fn spawn_periodic<T, F, Fut>(
        &self,
        target: Weak<T>,
        interval: fn(&T) -> Duration,
        wake: Option<Arc<Notify>>,
        tick: F,
    ) where
        T: Send + Sync + 'static,
        F: Fn(Arc<T>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        self.spawn_ticks(target, move |t: &T| Some(interval(t)), wake, tick);
    }

    /// Like [`spawn_periodic`](Self::spawn_periodic) without a wake-up, but the first tick comes
    /// after a random part of the interval rather than a whole one: instances that start together
    /// do not all tick together, and one restarted more often than the interval still ticks.
    pub(crate) fn spawn_periodic_spread<T, F, Fut>(
        &self,
        target: Weak<T>,
        interval: fn(&T) -> Duration,
        tick: F,
    ) where
        T: Send + Sync + 'static,
        F: Fn(Arc<T>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let first = std::sync::atomic::AtomicBool::new(true);
        let pause = move |t: &T| {
            let interval = interval(t);
            if first.swap(false, Ordering::Relaxed) {
                Some(interval.mul_f64(rand::random::<f64>()))
            } else {
                Some(interval)
            }
        };
        self.spawn_ticks(target, pause, None, tick);
    }

    /// Runs `tick` on `target` each time `wake` is notified (never on a timer), like
    /// [`spawn_periodic`](Self::spawn_periodic) otherwise.
    pub(crate) fn spawn_on_wake<T, F, Fut>(&self, target: Weak<T>, wake: Arc<Notify>, tick: F)
    where
        T: Send + Sync + 'static,
        F: Fn(Arc<T>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        self.spawn_ticks(target, |_: &T| None, Some(wake), tick);
    }

    /// Runs `task` until it ends or the background is stopped (or dropped, with the service),
    /// whichever comes first: a stop drops the task at its next await. The task must hold no
    /// strong reference to the service.
    pub(crate) fn spawn_until_stopped(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut stop = self.stop.subscribe();
        if *stop.borrow_and_update() {
            return;
        }
        self.keep(tokio::spawn(async move {
            tokio::select! {
                biased;
                _ = stop.changed() => {}
                () = task => {}
            }
        }));
    }

    /// The loop behind [`spawn_periodic`](Self::spawn_periodic) and
    /// [`spawn_on_wake`](Self::spawn_on_wake): `interval` `None` waits for a wake-up only.
    fn spawn_ticks<T, I, F, Fut>(
        &self,
        target: Weak<T>,
        interval: I,
        wake: Option<Arc<Notify>>,
        tick: F,
    ) where
        T: Send + Sync + 'static,
        I: Fn(&T) -> Option<Duration> + Send + 'static,
        F: Fn(Arc<T>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let mut stop = self.stop.subscribe();
        if *stop.borrow_and_update() {
            return;
        }
        let handle = tokio::spawn(async move {
            loop {
                let pause = match target.upgrade() {
                    Some(t) => interval(&t),
                    None => return,
                };
                let timer = async {
                    match pause {
                        Some(pause) => tokio::time::sleep(pause).await,
                        None => std::future::pending().await,
                    }
                };
                let woken = async {
                    match &wake {
                        Some(wake) => wake.notified().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    biased;
                    _ = stop.changed() => return,
                    () = woken => {}
                    () = timer => {}
                }
                let Some(t) = target.upgrade() else { return };
                tick(t).await;
            }
        });
        self.keep(handle);
    }

    /// Keeps a task's handle for [`stop`](Self::stop) to await.
    fn keep(&self, handle: JoinHandle<()>) {
        let mut periodic = self.periodic.lock().unwrap_or_else(|p| p.into_inner());
        periodic.retain(|h| !h.is_finished());
        periodic.push(handle);
    }

    /// Runs `job` on its own; [`stop`](Self::stop) waits for it to end.
    pub(crate) fn spawn_job(&self, job: impl Future<Output = ()> + Send + 'static) {
        self.jobs.running.fetch_add(1, Ordering::AcqRel);
        let guard = JobGuard(Arc::clone(&self.jobs));
        tokio::spawn(async move {
            let _guard = guard;
            job.await;
        });
    }

    /// Stops the periodic tasks (a tick in progress finishes first) and waits for the detached
    /// jobs, at most `patience` for the jobs.
    pub(crate) async fn stop(&self, patience: Duration) {
        self.stop.send_replace(true);
        let handles = std::mem::take(&mut *self.periodic.lock().unwrap_or_else(|p| p.into_inner()));
        for handle in handles {
            // A task that panicked has nothing left to stop.
            let _ = handle.await;
        }
        let jobs = Arc::clone(&self.jobs);
        let drained = async move {
            loop {
                let done = jobs.done.notified();
                tokio::pin!(done);
                done.as_mut().enable();
                if jobs.running.load(Ordering::Acquire) == 0 {
                    return;
                }
                done.await;
            }
        };
        if tokio::time::timeout(patience, drained).await.is_err() {
            tracing::warn!(
                running = self.jobs.running.load(Ordering::Acquire),
                "shutdown: background jobs (mail) still running after {patience:?}; not waiting"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    struct Counter(AtomicU32);

    #[tokio::test(start_paused = true)]
    async fn a_periodic_task_ticks_wakes_early_and_stops() {
        let bg = Background::new();
        let counter = Arc::new(Counter(AtomicU32::new(0)));
        let wake = Arc::new(Notify::new());
        bg.spawn_periodic(
            Arc::downgrade(&counter),
            |_| Duration::from_secs(60),
            Some(Arc::clone(&wake)),
            |c| async move {
                c.0.fetch_add(1, Ordering::SeqCst);
            },
        );
        tokio::time::sleep(Duration::from_secs(61)).await;
        assert_eq!(counter.0.load(Ordering::SeqCst), 1, "one interval");
        wake.notify_one();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            2,
            "woken before the interval"
        );
        bg.stop(Duration::from_secs(1)).await;
        assert!(bg.is_stopped());
        tokio::time::sleep(Duration::from_secs(600)).await;
        wake.notify_one();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            2,
            "nothing after the stop"
        );
        // A task started after the stop never runs.
        bg.spawn_periodic(
            Arc::downgrade(&counter),
            |_| Duration::from_secs(1),
            None,
            |c| async move {
                c.0.fetch_add(1, Ordering::SeqCst);
            },
        );
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(counter.0.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_on_wake_ticks_only_when_woken() {
        let bg = Background::new();
        let counter = Arc::new(Counter(AtomicU32::new(0)));
        let wake = Arc::new(Notify::new());
        bg.spawn_on_wake(
            Arc::downgrade(&counter),
            Arc::clone(&wake),
            |c| async move {
                c.0.fetch_add(1, Ordering::SeqCst);
            },
        );
        tokio::time::sleep(Duration::from_secs(3_600)).await;
        assert_eq!(counter.0.load(Ordering::SeqCst), 0, "no timer");
        wake.notify_one();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_secs(3_600)).await;
        assert_eq!(counter.0.load(Ordering::SeqCst), 1, "still no timer");
        bg.stop(Duration::from_secs(1)).await;
        wake.notify_one();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            1,
            "nothing after the stop"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_until_stopped_ends_at_the_stop_or_with_the_background() {
        /// Counts its drops: the task's future is dropped when the task ends.
        struct Dropped(Arc<AtomicU32>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicU32::new(0));
        let forever = |d: Dropped| async move {
            let _d = d;
            std::future::pending::<()>().await;
        };
        let bg = Background::new();
        bg.spawn_until_stopped(forever(Dropped(Arc::clone(&dropped))));
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(dropped.load(Ordering::SeqCst), 0, "runs until stopped");
        bg.stop(Duration::from_secs(1)).await;
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "ended by the stop");

        // Dropping the background (the service) ends it too.
        let bg = Background::new();
        bg.spawn_until_stopped(forever(Dropped(Arc::clone(&dropped))));
        drop(bg);
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            2,
            "ended with the background"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stop_waits_for_detached_jobs_within_its_patience() {
        let bg = Background::new();
        let finished = Arc::new(AtomicU32::new(0));
        for secs in [1, 2] {
            let finished = Arc::clone(&finished);
            bg.spawn_job(async move {
                tokio::time::sleep(Duration::from_secs(secs)).await;
                finished.fetch_add(1, Ordering::SeqCst);
            });
        }
        bg.stop(Duration::from_secs(30)).await;
        assert_eq!(finished.load(Ordering::SeqCst), 2, "both jobs ended first");
        // A job that outlasts the patience is left running, and stop returns.
        bg.spawn_job(std::future::pending());
        let started = tokio::time::Instant::now();
        bg.stop(Duration::from_secs(5)).await;
        assert!(started.elapsed() >= Duration::from_secs(5));
    }
}
