//! `ffprobe` for a stream's size and frame rate, run under a wall-clock limit.

use super::ffmpeg::{FfmpegConfig, input_args, spawn_error};
use super::error::VideoError;
use itscam_types::config::Source;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What `ffprobe` reports about the first video stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frame rate numerator (`avg_frame_rate`, else `r_frame_rate`); 0 when unknown.
    pub fps_num: u32,
    /// Frame rate denominator; 0 when unknown.
    pub fps_den: u32,
}

impl StreamInfo {
    /// Bytes of one RGB24 frame.
    pub fn frame_len(&self) -> usize {
        self.width as usize * self.height as usize * 3
    }

    /// The frame rate, when ffprobe knew it.
    pub fn fps(&self) -> Option<f64> {
        (self.fps_num > 0 && self.fps_den > 0).then(|| self.fps_num as f64 / self.fps_den as f64)
    }

    /// Milliseconds from the first frame to frame `index` at the nominal rate (rounded down),
    /// or `None` when the rate is unknown. Exact integer arithmetic: no drift over long files.
    pub fn offset_ms(&self, index: u64) -> Option<u64> {
        if self.fps_num == 0 || self.fps_den == 0 {
            return None;
        }
        let ms = index as u128 * 1000 * self.fps_den as u128 / self.fps_num as u128;
        Some(ms.min(u64::MAX as u128) as u64)
    }
}

/// Runs ffprobe on `source` and returns its first video stream's size and rate.
pub fn probe(source: &Source, cfg: &FfmpegConfig) -> Result<StreamInfo, VideoError> {
    let input = source.label();
    let mut cmd = Command::new(&cfg.ffprobe);
    cmd.args(["-v", "error", "-select_streams", "v:0"]);
    cmd.args(["-show_entries", "stream=width,height,avg_frame_rate,r_frame_rate", "-of", "json"]);
    cmd.args(input_args(source, cfg)?);
    let out = run_bounded(cmd, cfg.probe_timeout).map_err(|e| spawn_error("ffprobe", &cfg.ffprobe, e))?;
    // A file ffprobe cannot read is not a video; a stream it cannot read may come back later.
    let fail = |detail: String| match source {
        Source::VideoFile(_) => VideoError::NotVideo { input: input.clone(), detail },
        _ => VideoError::Open { input: input.clone(), detail },
    };
    let Some(out) = out else {
        return Err(VideoError::Open { input, detail: format!("ffprobe gave no answer within {:?}", cfg.probe_timeout) });
    };
    if !out.success {
        return Err(fail(last_line(&out.stderr)));
    }
    match parse_probe_json(&out.stdout) {
        Some(i) if (1..=16_384).contains(&i.width) && (1..=16_384).contains(&i.height) => Ok(i),
        Some(i) => Err(fail(format!("unusable frame size {}x{}", i.width, i.height))),
        None => Err(fail("no video stream".into())),
    }
}

fn last_line(text: &str) -> String {
    match text.lines().rev().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) => line.to_string(),
        None => "ffprobe failed without a message".into(),
    }
}

/// Reads the first stream's entries from ffprobe's `-of json` output. A tiny scanner rather
/// than a JSON dependency: the output is ffprobe's own, with four known keys.
pub(super) fn parse_probe_json(text: &str) -> Option<StreamInfo> {
    let width = json_value(text, "width")?.parse().ok()?;
    let height = json_value(text, "height")?.parse().ok()?;
    let rate = |key| json_value(text, key).and_then(parse_rate).filter(|&(n, d)| n > 0 && d > 0);
    let (fps_num, fps_den) = rate("avg_frame_rate").or_else(|| rate("r_frame_rate")).unwrap_or((0, 0));
    Some(StreamInfo { width, height, fps_num, fps_den })
}

/// The scalar after `"key":` — a string's contents or a number's text.
fn json_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let quoted = format!("\"{key}\"");
    let at = text.find(&quoted)? + quoted.len();
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        return s.find('"').map(|end| &s[..end]);
    }
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '-' || c == '.')).unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// `"30000/1001"` → `(30000, 1001)`; `"25"` → `(25, 1)`.
fn parse_rate(s: &str) -> Option<(u32, u32)> {
    match s.split_once('/') {
        Some((n, d)) => Some((n.trim().parse().ok()?, d.trim().parse().ok()?)),
        None => Some((s.trim().parse().ok()?, 1)),
    }
}

/// What a bounded child run printed.
pub(super) struct ToolOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to completion or kills it after `limit` (`Ok(None)`): an RTSP server that
/// accepts and then says nothing must not hang a camera's reader.
pub(super) fn run_bounded(mut cmd: Command, limit: Duration) -> std::io::Result<Option<ToolOutput>> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let collect = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                let mut raw = Vec::new();
                let _ = p.read_to_end(&mut raw);
                text = String::from_utf8_lossy(&raw).into_owned();
            }
            text
        })
    };
    let stdout = collect(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = collect(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + limit;
    // std has no wait-with-timeout; poll the child (bounded by `limit`) instead.
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (stdout, stderr) = (stdout.join().unwrap_or_default(), stderr.join().unwrap_or_default());
    Ok(status.map(|s| ToolOutput { success: s.success(), stdout, stderr }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ffprobe_json() {
        let text = r#"{
    "programs": [

    ],
    "streams": [
        {
            "width": 768,
            "height": 576,
            "r_frame_rate": "10/1",
            "avg_frame_rate": "10/1"
        }
    ]
}"#;
        assert_eq!(parse_probe_json(text), Some(StreamInfo { width: 768, height: 576, fps_num: 10, fps_den: 1 }));
        assert_eq!(parse_probe_json("{\n    \"programs\": [],\n    \"streams\": []\n}"), None);
    }

    #[test]
    fn unknown_average_rate_falls_back_to_the_real_base_rate() {
        let text = r#"{"streams": [{"width": 64, "height": 48, "r_frame_rate": "30000/1001", "avg_frame_rate": "0/0"}]}"#;
        let info = parse_probe_json(text).unwrap();
        assert_eq!((info.fps_num, info.fps_den), (30000, 1001));
        let none = parse_probe_json(r#"{"streams": [{"width": 64, "height": 48, "r_frame_rate": "0/0", "avg_frame_rate": "0/0"}]}"#).unwrap();
        assert_eq!((none.fps(), none.offset_ms(3)), (None, None));
    }

    #[test]
    fn frame_offsets_are_exact_at_fractional_rates() {
        let ntsc = StreamInfo { width: 2, height: 2, fps_num: 30000, fps_den: 1001 };
        assert_eq!(ntsc.offset_ms(0), Some(0));
        assert_eq!(ntsc.offset_ms(1), Some(33));
        assert_eq!(ntsc.offset_ms(30_000), Some(1_001_000), "no drift after 30000 frames");
        let ten = StreamInfo { width: 768, height: 576, fps_num: 10, fps_den: 1 };
        assert_eq!(ten.offset_ms(794), Some(79_400));
        assert_eq!(ten.frame_len(), 768 * 576 * 3);
    }

    #[test]
    fn a_missing_probe_binary_says_how_to_install_ffmpeg() {
        let cfg = FfmpegConfig { ffprobe: "/nonexistent/ffprobe".into(), ..FfmpegConfig::default() };
        let err = probe(&Source::Rtsp("rtsp://127.0.0.1:1/x".into()), &cfg).unwrap_err();
        assert!(matches!(err, VideoError::ToolMissing { tool: "ffprobe", .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("/nonexistent/ffprobe") && msg.contains("apt-get install ffmpeg"), "{msg}");
    }

    #[test]
    fn a_missing_file_is_reported_before_any_tool_runs() {
        let cfg = FfmpegConfig { ffprobe: "/nonexistent/ffprobe".into(), ..FfmpegConfig::default() };
        let err = probe(&Source::VideoFile("/nonexistent/cam.mp4".into()), &cfg).unwrap_err();
        assert_eq!(err.to_string(), "video file /nonexistent/cam.mp4 does not exist");
        assert!(err.is_permanent());
    }
}
