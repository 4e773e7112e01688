//! Video sources against real ffmpeg, a real sample video and a real RTSP server on loopback.
//!
//! Needs: ffmpeg (Debian `ffmpeg`), `vtest.avi` (`scripts/setup.sh` puts it in `.assets/`; or
//! set `ITSCAM_VTEST`), and for the RTSP tests `python3-gi gir1.2-gst-rtsp-server-1.0
//! gstreamer1.0-plugins-base gstreamer1.0-plugins-good`. A missing tool fails the test with
//! what to install; nothing is skipped silently.

mod file;
mod rtsp;
mod support;
