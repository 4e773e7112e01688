//! Video files: real decode of vtest.avi, event times, pacing, backpressure and clear errors.

use crate::support::{Running, make_clip, require_ffmpeg, temp_dir, vtest};
use itscam_operators::video::{Decoder, FfmpegConfig, VideoError, VideoFeedSpec, probe};
use itscam_types::CameraHealth;
use itscam_types::config::{Pacing, Source};
use std::time::{Duration, Instant};

const START: u64 = 1_767_225_600_000;

fn file_feed(path: &std::path::Path) -> VideoFeedSpec {
    let mut spec = VideoFeedSpec::new("cam-1", Source::VideoFile(path.to_path_buf()));
    spec.options.start_ms = Some(START);
    spec
}

#[test]
fn vtest_decodes_to_795_frames_of_768x576_100_ms_apart() {
    let spec = file_feed(&vtest());
    let status = spec.status.clone();
    let started = Instant::now();
    let (frames, errors) = Running::start(vec![spec], |f| f == 0 || f == 400).finish(Duration::from_secs(300));
    let elapsed = started.elapsed();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(frames.len(), 795);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!((f.frame, f.width, f.height, f.len), (i as u64, 768, 576, 768 * 576 * 3));
        assert_eq!(f.ts_ms, START + 100 * i as u64, "frame {i}");
        assert_eq!(f.time, f.ts_ms, "a frame travels at its own event time");
    }
    let (a, b) = (frames[0].rgb.as_ref().unwrap(), frames[400].rgb.as_ref().unwrap());
    let mut histogram = [0usize; 256];
    a.iter().for_each(|&v| histogram[v as usize] += 1);
    let levels = histogram.iter().filter(|&&n| n > 100).count();
    assert!(levels > 100, "a real scene uses many intensity levels, got {levels}");
    let changed = a.iter().zip(b.iter()).filter(|(x, y)| x.abs_diff(**y) > 24).count();
    assert!(changed > a.len() / 200, "people move between frame 0 and 400: {changed} bytes changed");
    assert!(changed < a.len() / 2, "the camera is fixed: {changed} bytes changed");
    let health: Vec<CameraHealth> = status.history().iter().map(|t| t.health).collect();
    assert_eq!(health, vec![CameraHealth::Connecting, CameraHealth::Up, CameraHealth::Finished], "a file read to its end is finished, not down");
    assert_eq!(status.snapshot().frames, 795);
    println!("video_source over vtest.avi: {:.2} ms/frame (debug build, incl. timely)", elapsed.as_secs_f64() * 1000.0 / 795.0);
}

#[test]
fn decoder_reads_vtest_into_exact_frames() {
    let source = Source::VideoFile(vtest());
    let cfg = FfmpegConfig::default();
    let info = probe(&source, &cfg).unwrap();
    assert_eq!((info.width, info.height, info.fps()), (768, 576, Some(10.0)));
    let started = Instant::now();
    let mut decoder = Decoder::spawn(&source, &info, &cfg).unwrap();
    let mut n = 0u64;
    while let Some(rgb) = decoder.next_frame(Some(Duration::from_secs(10))).unwrap() {
        assert_eq!(rgb.len(), info.frame_len());
        n += 1;
    }
    assert_eq!(n, 795);
    println!("Decoder over vtest.avi: {:.2} ms/frame (ffmpeg + pipe + Arc copy, debug build)", started.elapsed().as_secs_f64() * 1000.0 / n as f64);
}

#[test]
fn without_a_start_time_frame_0_is_at_the_file_modification_time() {
    let path = make_clip(&temp_dir("mtime"), 5, 25);
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mtime_ms = mtime.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let spec = VideoFeedSpec::new("cam-1", Source::VideoFile(path));
    let (frames, errors) = Running::start(vec![spec], |_| false).finish(Duration::from_secs(60));
    assert!(errors.is_empty(), "{errors:?}");
    let ts: Vec<u64> = frames.iter().map(|f| f.ts_ms).collect();
    assert_eq!(ts, (0..5).map(|i| mtime_ms + 40 * i).collect::<Vec<_>>());
}

#[test]
fn real_time_pacing_spreads_frames_over_the_clip_duration() {
    let path = make_clip(&temp_dir("pace"), 10, 20);
    let mut spec = file_feed(&path);
    spec.options.pacing = Pacing::Realtime;
    let (frames, _) = Running::start(vec![spec], |_| false).finish(Duration::from_secs(60));
    assert_eq!(frames.len(), 10);
    let span = frames[9].at.duration_since(frames[0].at);
    // Frame 9 is due 450 ms after frame 0; a little early delivery slack for the scheduler.
    assert!(span >= Duration::from_millis(420), "real time spread 10 frames at 20 fps over {span:?}");
    for w in frames.windows(2) {
        assert!(w[1].at >= w[0].at);
    }
}

#[test]
fn a_paused_engine_stops_the_file_reader_and_nothing_is_dropped() {
    let path = make_clip(&temp_dir("backpressure"), 300, 25);
    let spec = file_feed(&path);
    let status = spec.status.clone();
    let run = Running::start(vec![spec], |_| false);
    run.pause.store(true, std::sync::atomic::Ordering::SeqCst);
    // The reader fills the bounded channel, then blocks: its frame count stops moving.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = (status.snapshot().frames, Instant::now());
    loop {
        let now = status.snapshot().frames;
        if now != last.0 {
            last = (now, Instant::now());
        } else if now > 0 && last.1.elapsed() > Duration::from_millis(500) {
            break;
        }
        assert!(Instant::now() < deadline, "the reader never settled ({now} frames)");
        std::thread::sleep(Duration::from_millis(10));
    }
    let decoded = status.snapshot().frames;
    assert!(decoded < 20, "a paused engine holds the reader to the channel's size, it decoded {decoded}");
    run.pause.store(false, std::sync::atomic::Ordering::SeqCst);
    let (frames, errors) = run.finish(Duration::from_secs(60));
    assert!(errors.is_empty(), "{errors:?}");
    let numbers: Vec<u64> = frames.iter().map(|f| f.frame).collect();
    assert_eq!(numbers, (0..300).collect::<Vec<_>>(), "every frame, in order");
    assert_eq!(status.snapshot().dropped, 0);
}

/// Runs one file feed to its end and returns its single error row.
fn fails_with(spec: VideoFeedSpec) -> itscam_types::ErrorRow {
    let status = spec.status.clone();
    let (frames, errors) = Running::start(vec![spec], |_| false).finish(Duration::from_secs(60));
    assert!(frames.is_empty());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(status.health(), CameraHealth::Down);
    assert_eq!(status.snapshot().last_error.as_deref(), Some(errors[0].reason.as_str()));
    errors[0].clone()
}

#[test]
fn a_missing_file_is_a_clear_error() {
    require_ffmpeg();
    let path = temp_dir("missing").join("nope.mp4");
    let err = probe(&Source::VideoFile(path.clone()), &FfmpegConfig::default()).unwrap_err();
    assert!(matches!(err, VideoError::FileMissing { .. }), "{err:?}");
    let row = fails_with(file_feed(&path));
    assert_eq!(row.kind.as_str(), "file_missing");
    assert_eq!(row.reason, format!("video file {} does not exist", path.display()));
    assert_eq!((row.camera_id.as_deref(), row.source.as_str()), (Some("cam-1"), format!("file:{}", path.display()).as_str()));
}

#[test]
fn a_file_that_is_not_a_video_is_a_clear_error() {
    require_ffmpeg();
    let path = temp_dir("notvideo").join("notes.mp4");
    std::fs::write(&path, "these are not the frames you are looking for\n".repeat(100)).unwrap();
    let err = probe(&Source::VideoFile(path.clone()), &FfmpegConfig::default()).unwrap_err();
    assert!(matches!(err, VideoError::NotVideo { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("file:{} is not a video: ", path.display())), "{msg}");
    let row = fails_with(file_feed(&path));
    assert_eq!(row.kind.as_str(), "not_video");
}

#[test]
fn a_missing_ffmpeg_binary_is_a_clear_error() {
    let path = vtest();
    let source = Source::VideoFile(path.clone());
    let no_probe = FfmpegConfig { ffprobe: "/nonexistent/bin/ffprobe".into(), ..FfmpegConfig::default() };
    let err = probe(&source, &no_probe).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ffprobe not found (tried \"/nonexistent/bin/ffprobe\"): install ffmpeg (Debian: apt-get install ffmpeg)"
    );
    let no_ffmpeg = FfmpegConfig { ffmpeg: "/nonexistent/bin/ffmpeg".into(), ..FfmpegConfig::default() };
    let info = probe(&source, &no_ffmpeg).unwrap();
    let err = Decoder::spawn(&source, &info, &no_ffmpeg).unwrap_err();
    assert!(matches!(err, VideoError::ToolMissing { tool: "ffmpeg", .. }), "{err:?}");
    let mut spec = file_feed(&path);
    spec.options.ffmpeg = no_ffmpeg;
    let row = fails_with(spec);
    assert_eq!(row.kind.as_str(), "tool_missing");
    assert!(row.reason.contains("/nonexistent/bin/ffmpeg") && row.reason.contains("apt-get install ffmpeg"), "{}", row.reason);
}
