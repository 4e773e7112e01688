//! RTSP cameras against a real gst-rtsp-server on loopback: health, reconnects, and the rule
//! that a camera that is down never holds the frontier back.

use crate::support::{Running, RtspServer, free_port, require_ffmpeg};
use itscam_operators::video::{Backoff, VideoFeedSpec};
use itscam_types::CameraHealth;
use itscam_types::config::Source;
use itscam_types::time::now_ms;
use std::time::Duration;

const LATENESS_MS: u64 = 300;

fn rtsp_feed(id: &str, url: String) -> VideoFeedSpec {
    let mut spec = VideoFeedSpec::new(id, Source::Rtsp(url));
    let o = &mut spec.options;
    o.lateness_ms = LATENESS_MS;
    o.stall_timeout = Duration::from_secs(3);
    o.backoff = Backoff { base: Duration::from_millis(100), max: Duration::from_millis(500), max_attempts: None };
    o.ffmpeg.rtsp_io_timeout = Duration::from_secs(3);
    spec
}

fn wait_health(spec_status: &itscam_operators::video::CameraStatus, want: CameraHealth, secs: u64) {
    let got = spec_status.wait_until(Duration::from_secs(secs), |h| h == want);
    assert_eq!(got, Some(want), "camera never became {want:?}: {:?}", spec_status.snapshot());
}

#[test]
fn a_camera_reconnects_after_its_server_restarts_and_never_holds_the_frontier() {
    require_ffmpeg();
    let port = free_port();
    let server = RtspServer::start(port);
    let spec = rtsp_feed("cam-live", server.url());
    let status = spec.status.clone();
    let run = Running::start(vec![spec], |_| false);

    wait_health(&status, CameraHealth::Up, 30);
    run.wait(Duration::from_secs(20), "frames from the live camera", |r| r.count() >= 5);
    let first = run.frames();
    assert_eq!((first[0].width, first[0].height, first[0].len), (320, 240, 320 * 240 * 3));

    drop(server); // outage
    wait_health(&status, CameraHealth::Reconnecting, 20);
    let noticed = now_ms();
    let newest_before = run.frames().last().unwrap().ts_ms;
    // No frames flow, yet the frontier moves with the wall clock, past the newest frame.
    run.wait(Duration::from_secs(10), "the frontier to pass the outage by wall clock", |r| r.frontier() > noticed);
    let f1 = run.frontier();
    run.wait(Duration::from_secs(10), "the frontier to keep advancing", |r| r.frontier() >= f1 + 500);
    assert!(run.frontier() > newest_before + 500);
    assert_ne!(status.health(), CameraHealth::Up, "the server is still down");
    assert!(run.frames().iter().all(|f| f.ts_ms < noticed), "no frames while the server is down");

    let server = RtspServer::start(port); // recovery, same URL
    let restarted = now_ms();
    wait_health(&status, CameraHealth::Up, 30);
    run.wait(Duration::from_secs(20), "frames after the restart", |r| r.frames().iter().filter(|f| f.ts_ms > restarted).count() >= 3);
    let (frames, errors) = run.stop(Duration::from_secs(20));
    drop(server);

    assert!(errors.is_empty(), "{errors:?}");
    let states: Vec<CameraHealth> = status.history().iter().map(|t| t.health).collect();
    use CameraHealth::*;
    assert_eq!(&states[..3], &[Connecting, Up, Reconnecting], "{states:?}");
    let reconnects = states.iter().skip(2).take_while(|h| **h == Reconnecting).count();
    assert_eq!(states[2 + reconnects], Up, "{states:?}");
    let attempts: Vec<u32> = status.history().iter().skip(2).take(reconnects).map(|t| t.attempt).collect();
    assert_eq!(attempts, (1..=reconnects as u32).collect::<Vec<_>>(), "attempts count up");
    for w in frames.windows(2) {
        assert!(w[1].frame > w[0].frame && w[1].ts_ms >= w[0].ts_ms, "frame numbers and times only grow across reconnects");
    }
    assert!(frames.iter().all(|f| f.time == f.ts_ms));
}

#[test]
fn an_unreachable_camera_does_not_hold_back_another_cameras_frames() {
    require_ffmpeg();
    let server = RtspServer::start(free_port());
    let good = rtsp_feed("cam-good", server.url());
    let dead = rtsp_feed("cam-dead", format!("rtsp://127.0.0.1:{}/cam", free_port()));
    let dead_status = dead.status.clone();
    let run = Running::start(vec![good, dead], |_| false);
    run.wait(Duration::from_secs(30), "frames from the good camera", |r| r.count() >= 3);
    let third = run.frames()[2].ts_ms;
    run.wait(Duration::from_secs(10), "the frontier to pass the good camera's frame", |r| r.frontier() > third);
    let dead_now = dead_status.snapshot();
    assert_eq!(dead_now.health, CameraHealth::Reconnecting, "{dead_now:?}");
    assert!(dead_now.attempt >= 1 && dead_now.last_error.as_deref().is_some_and(|e| e.contains("cannot open")), "{dead_now:?}");
    let (frames, _) = run.stop(Duration::from_secs(20));
    assert!(frames.iter().all(|f| f.camera == "cam-good"));
}

#[test]
fn a_camera_that_never_answers_is_given_up_after_max_attempts() {
    require_ffmpeg();
    let mut spec = rtsp_feed("cam-gone", format!("rtsp://127.0.0.1:{}/cam", free_port()));
    spec.options.backoff = Backoff { base: Duration::from_millis(10), max: Duration::from_millis(50), max_attempts: Some(2) };
    let status = spec.status.clone();
    // Ending by itself proves the capability was released once the camera was given up.
    let (frames, errors) = Running::start(vec![spec], |_| false).finish(Duration::from_secs(60));
    assert!(frames.is_empty());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].kind.as_str(), "open_failed");
    assert!(errors[0].reason.contains("gave up after 2 failed attempts"), "{}", errors[0].reason);
    let states: Vec<(CameraHealth, u32)> = status.history().iter().map(|t| (t.health, t.attempt)).collect();
    use CameraHealth::*;
    assert_eq!(states, vec![(Connecting, 0), (Reconnecting, 1), (Down, 2)]);
}

#[test]
fn a_silent_connection_counts_as_a_stall_and_recovers() {
    require_ffmpeg();
    let server = RtspServer::start(free_port());
    let mut spec = rtsp_feed("cam-hung", server.url());
    // Our stall timeout, not ffmpeg's socket timeout, must notice the silence.
    spec.options.stall_timeout = Duration::from_secs(1);
    spec.options.ffmpeg.rtsp_io_timeout = Duration::from_secs(30);
    spec.options.ffmpeg.probe_timeout = Duration::from_secs(30);
    let status = spec.status.clone();
    let run = Running::start(vec![spec], |_| false);
    wait_health(&status, CameraHealth::Up, 30);
    run.wait(Duration::from_secs(20), "frames", |r| r.count() >= 3);

    server.signal("-STOP");
    wait_health(&status, CameraHealth::Reconnecting, 20);
    let stalled = status.history().into_iter().find(|t| t.health == CameraHealth::Reconnecting).unwrap();
    assert!(stalled.error.as_deref().is_some_and(|e| e.contains("no frame from") && e.contains("for 1000 ms")), "{stalled:?}");
    let noticed = now_ms();
    run.wait(Duration::from_secs(10), "the frontier to advance during the stall", |r| r.frontier() > noticed);

    server.signal("-CONT");
    let resumed = now_ms();
    wait_health(&status, CameraHealth::Up, 60);
    run.wait(Duration::from_secs(20), "frames after the server thawed", |r| r.frames().iter().any(|f| f.ts_ms > resumed));
    run.stop(Duration::from_secs(20));
}

#[test]
fn a_failing_ffmpeg_reports_its_own_error_lines() {
    require_ffmpeg();
    use itscam_operators::video::{Decoder, FfmpegConfig, StreamInfo, VideoError};
    let url = format!("rtsp://127.0.0.1:{}/cam", free_port());
    let info = StreamInfo { width: 64, height: 48, fps_num: 10, fps_den: 1 };
    let mut decoder = Decoder::spawn(&Source::Rtsp(url.clone()), &info, &FfmpegConfig::default()).unwrap();
    let err = decoder.next_frame(Some(Duration::from_secs(30))).unwrap_err();
    assert!(matches!(err, VideoError::Decode { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("decoding {url} failed: ffmpeg exited with")), "{msg}");
    assert!(msg.contains("Connection refused"), "ffmpeg's stderr is part of the message: {msg}");
}
