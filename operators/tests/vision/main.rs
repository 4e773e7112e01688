//! The vision path against its real parts: the bundled CenterNet model on ONNX Runtime
//! (`.assets/libonnxruntime.so`), frames of vtest.avi decoded by the engine's ffmpeg
//! [`Decoder`](itscam_operators::video::Decoder), and the batching operator inside timely.
//!
//! Needs `scripts/setup.sh` (ONNX Runtime library and vtest.avi in `.assets/`; or set
//! `ITSCAM_VTEST`) and ffmpeg. A missing part fails the test with what to do; nothing is skipped.
//! All tests that load ONNX Runtime live in this one binary: the runtime is loaded once per
//! process, always from the same path (nextest runs each test in its own process anyway).

mod batching;
mod errors;
mod inference;
mod support;
