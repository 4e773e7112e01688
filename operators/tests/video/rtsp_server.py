#!/usr/bin/env python3
"""A real RTSP server on loopback for the video tests (gst-rtsp-server through PyGObject).

    rtsp_server.py PORT        serves rtsp://127.0.0.1:PORT/cam (MJPEG 320x240 at 10 fps)

Prints READY once it listens; exits on SIGTERM/SIGKILL (the test kills it to simulate an
outage and starts it again on the same port). Needs the Debian packages python3-gi,
gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-base and gstreamer1.0-plugins-good.
A live videotestsrc keeps the script independent of sample files; MJPEG (jpegenc) is in
plugins-good, so no H.264 encoder package is needed.
"""
import sys

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer
except (ImportError, ValueError) as e:
    sys.stderr.write(f"rtsp_server.py: {e}: install python3-gi gir1.2-gst-rtsp-server-1.0\n")
    sys.exit(3)

PIPELINE = (
    "( videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=10/1 "
    "! jpegenc quality=70 ! rtpjpegpay name=pay0 pt=26 )"
)


def main():
    port = sys.argv[1]
    Gst.init(None)
    for name in ("videotestsrc", "jpegenc", "rtpjpegpay"):
        if Gst.ElementFactory.find(name) is None:
            sys.stderr.write(f"rtsp_server.py: GStreamer element {name} missing: install "
                             "gstreamer1.0-plugins-base gstreamer1.0-plugins-good\n")
            sys.exit(3)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE)
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        sys.stderr.write(f"rtsp_server.py: cannot listen on 127.0.0.1:{port}\n")
        sys.exit(2)
    print("READY", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
