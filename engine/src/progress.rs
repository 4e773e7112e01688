//! The progress bar of `itscam run`: position in the input files and frames/s, on stderr
//! (hidden when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};
use itscam_operators::source::FeedStats;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running progress bar.
#[derive(Debug)]
pub struct Progress {
    done: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Progress {
    /// Starts drawing from the sources' counters.
    pub fn start(stats: Vec<Arc<FeedStats>>) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let thread = std::thread::spawn(move || {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}")
                    .expect("static template"),
            );
            let started = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let total: u64 = stats.iter().map(|s| s.total_bytes.load(Ordering::Relaxed)).sum();
                let read: u64 = stats.iter().map(|s| s.bytes_read.load(Ordering::Relaxed)).sum();
                let frames: u64 = stats.iter().map(|s| s.frames.load(Ordering::Relaxed)).sum();
                bar.set_length(total.max(read));
                bar.set_position(read);
                let rate = frames as f64 / started.elapsed().as_secs_f64().max(1e-3);
                bar.set_message(format!("{frames} frames, {rate:.0} frames/s"));
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        Progress { done, thread }
    }

    /// Stops and clears the bar.
    pub fn finish(self) {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}
