//! Start-up errors name the culprit and say how to fix it.

use crate::support::{START, model_config, runtime_library, video_frame, vtest_frames};
use itscam_operators::vision::detector::Detector;
use itscam_operators::vision::runtime::{VisionError, resolve_library};
use itscam_types::config::Provider;
use std::path::PathBuf;

/// A fresh directory for one test, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("itscam-vision-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open_err(config: &itscam_types::config::ModelConfig) -> VisionError {
    match Detector::open(config) {
        Ok(d) => panic!("expected an error, the detector opened: {d:?}"),
        Err(e) => e,
    }
}

#[test]
fn a_missing_model_is_named() {
    let dir = TempDir::new("missing-model");
    let path = dir.0.join("no-such-model.onnx");
    let config = itscam_types::config::ModelConfig { path: path.display().to_string(), ..model_config(1) };
    let err = open_err(&config);
    let VisionError::ModelNotFound(p) = &err else { panic!("expected ModelNotFound, got {err:?}") };
    assert_eq!(p, &path);
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "the message names the path: {msg}");
    assert!(msg.contains("[model].path"), "the message says what to set: {msg}");
}

#[test]
fn a_file_that_is_not_onnx_is_a_model_error() {
    let dir = TempDir::new("garbage-model");
    let path = dir.0.join("garbage.onnx");
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&path, garbage).unwrap();
    let config = itscam_types::config::ModelConfig { path: path.display().to_string(), ..model_config(1) };
    let err = open_err(&config);
    let VisionError::Model { path: p, reason } = &err else { panic!("expected VisionError::Model, got {err:?}") };
    assert_eq!(p, &path);
    assert!(!reason.is_empty(), "ONNX Runtime's reason is kept");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "the message names the model: {msg}");
    println!("{msg}");
}

#[test]
fn an_unavailable_provider_fails_clearly_without_fallback() {
    for (provider, name) in [(Provider::Cuda, "cuda"), (Provider::Tensorrt, "tensorrt")] {
        let config = itscam_types::config::ModelConfig { provider, fallback_to_cpu: false, ..model_config(1) };
        let err = open_err(&config);
        let VisionError::ProviderUnavailable { provider: p, reason } = &err else {
            panic!("{name}: expected ProviderUnavailable with the CPU-only library, got {err:?}")
        };
        assert_eq!(*p, name);
        assert!(!reason.is_empty());
        let msg = err.to_string();
        assert!(msg.contains(name), "names the provider: {msg}");
        assert!(msg.contains("provider = \"cpu\"") && msg.contains("fallback_to_cpu = true"), "says how to fix it: {msg}");
        println!("{msg}");
    }
}

#[test]
fn an_unavailable_provider_falls_back_to_the_cpu_when_allowed() {
    let config = itscam_types::config::ModelConfig { provider: Provider::Cuda, fallback_to_cpu: true, ..model_config(1) };
    let mut det = Detector::open(&config).unwrap_or_else(|e| panic!("fallback_to_cpu opens on the CPU: {e}"));
    assert_eq!(det.provider(), Provider::Cpu);
    // And it detects on the CPU.
    let rgb = vtest_frames(&[0]);
    let mut out = Vec::new();
    det.detect(&[video_frame("vtest", START, 0, &rgb[0])], &mut out).expect("inference on the CPU");
    assert!(out[0].iter().any(|d| d.class.name() == "person"), "{:?}", out[0]);
}

#[test]
fn a_missing_runtime_library_lists_where_it_looked() {
    let path = "/nonexistent/libonnxruntime.so";
    let err = resolve_library(Some(path)).expect_err("no library there");
    let VisionError::LibraryNotFound { tried } = &err else { panic!("expected LibraryNotFound, got {err:?}") };
    assert_eq!(tried, &[PathBuf::from(path)], "a configured path is the only one tried");
    let msg = err.to_string();
    assert!(msg.contains(path), "lists the path: {msg}");
    assert!(msg.contains("scripts/setup.sh") && msg.contains("runtime_library"), "says how to fix it: {msg}");
    // The real one resolves to itself.
    let real = runtime_library();
    assert_eq!(resolve_library(Some(&real)).expect("the bundled library"), PathBuf::from(&real));
}
