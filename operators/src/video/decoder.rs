//! One ffmpeg child process per connection: `ffprobe` for the stream's size and rate, then
//! `ffmpeg … -f rawvideo -pix_fmt rgb24 -` whose stdout a pump thread cuts into frames.

use super::error::VideoError;
use super::ffmpeg::{FfmpegConfig, input_args, spawn_error};
use super::probe::StreamInfo;
use itscam_types::config::Source;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Frames handed from the pump thread; two in flight keep ffmpeg busy while the reader sends.
const PUMP_FRAMES: usize = 2;
/// ffmpeg error lines kept for error messages.
const STDERR_LINES: usize = 8;

/// A running ffmpeg child decoding one stream into RGB24 frames of the probed size.
/// Dropping it kills the child.
pub struct Decoder {
    child: Child,
    frames: Receiver<Result<Arc<[u8]>, String>>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    stderr_thread: Option<std::thread::JoinHandle<()>>,
    input: String,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder").field("input", &self.input).field("pid", &self.child.id()).finish_non_exhaustive()
    }
}

impl Decoder {
    /// Starts ffmpeg on `source`; frames come out scaled to `info`'s size, so every frame has
    /// exactly [`StreamInfo::frame_len`] bytes even if the stream changes resolution.
    pub fn spawn(source: &Source, info: &StreamInfo, cfg: &FfmpegConfig) -> Result<Decoder, VideoError> {
        let input = source.label();
        let mut cmd = Command::new(&cfg.ffmpeg);
        cmd.args(["-nostdin", "-v", "error"]).args(input_args(source, cfg)?);
        cmd.args(["-map", "0:v:0", "-vf", &format!("scale={}:{}", info.width, info.height)]);
        cmd.args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| spawn_error("ffmpeg", &cfg.ffmpeg, e))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        let stderr = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_LINES)));
        let (tx, frames) = sync_channel(PUMP_FRAMES);
        let len = info.frame_len();
        let (tail, label) = (stderr.clone(), input.clone());
        let threads = std::thread::Builder::new()
            .name(format!("itscam-ffmpeg {input}"))
            .spawn(move || pump(stdout, len, tx))
            .and_then(|_| {
                let name = format!("itscam-ffmpeg-err {input}");
                std::thread::Builder::new().name(name).spawn(move || drain_stderr(stderr_pipe, tail, label))
            });
        let mut decoder = Decoder { child, frames, stderr, stderr_thread: None, input };
        let thread_error = |e: std::io::Error| VideoError::Spawn { tool: "ffmpeg", path: cfg.ffmpeg.clone(), reason: format!("thread: {e}") };
        decoder.stderr_thread = Some(threads.map_err(thread_error)?);
        Ok(decoder)
    }

    /// The next frame; `Ok(None)` when ffmpeg finished cleanly (end of file), an error when it
    /// failed, or [`VideoError::Stalled`] when `timeout` passes first (the child keeps running).
    pub fn next_frame(&mut self, timeout: Option<Duration>) -> Result<Option<Arc<[u8]>>, VideoError> {
        let got = match timeout {
            None => self.frames.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(t) => self.frames.recv_timeout(t),
        };
        match got {
            Ok(Ok(frame)) => Ok(Some(frame)),
            Ok(Err(pump_error)) => Err(self.failure(&pump_error)),
            Err(RecvTimeoutError::Timeout) => {
                Err(VideoError::Stalled { input: self.input.clone(), ms: timeout.unwrap_or_default().as_millis() as u64 })
            }
            Err(RecvTimeoutError::Disconnected) => match self.child.wait() {
                Ok(status) if status.success() => Ok(None),
                Ok(status) => Err(self.failure(&format!("ffmpeg exited with {status}"))),
                Err(e) => Err(self.failure(&format!("waiting for ffmpeg: {e}"))),
            },
        }
    }

    fn failure(&mut self, what: &str) -> VideoError {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // ffmpeg's last words may still be in the pipe: its reader ends once the child is gone.
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
        let tail: Vec<String> = self.stderr.lock().map(|t| t.iter().cloned().collect()).unwrap_or_default();
        let detail = if tail.is_empty() { what.to_string() } else { format!("{what}: {}", tail.join(" | ")) };
        VideoError::Decode { input: self.input.clone(), detail }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // A killed child cannot outlive the camera; the pump thread then sees EOF and ends.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads exact frame-sized chunks into one reusable buffer; the only steady-state allocation is
/// the `Arc<[u8]>` handed downstream.
fn pump(mut stdout: ChildStdout, len: usize, tx: SyncSender<Result<Arc<[u8]>, String>>) {
    let mut buf = vec![0u8; len];
    loop {
        let mut filled = 0;
        while filled < len {
            match stdout.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(format!("reading ffmpeg's output: {e}")));
                    return;
                }
            }
        }
        if filled == 0 {
            return; // clean end: the receiver sees the channel close and asks the child why
        }
        if filled < len {
            let _ = tx.send(Err(format!("ffmpeg's output ended inside a frame ({filled} of {len} bytes)")));
            return;
        }
        if tx.send(Ok(Arc::from(&buf[..]))).is_err() {
            return; // the decoder was dropped
        }
    }
}

/// Keeps ffmpeg's stderr flowing (a full pipe would block it) and its last lines for errors.
fn drain_stderr(pipe: std::process::ChildStderr, tail: Arc<Mutex<VecDeque<String>>>, input: String) {
    for line in BufReader::new(pipe).lines() {
        let Ok(line) = line else { return };
        tracing::debug!(input = %input, "ffmpeg: {line}");
        if let Ok(mut t) = tail.lock() {
            if t.len() == STDERR_LINES {
                t.pop_front();
            }
            t.push_back(line);
        }
    }
}
