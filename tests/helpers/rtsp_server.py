"""A real RTSP server for the tests: GStreamer's RTSP server (Debian's gir1.2-gst-rtsp-server-1.0,
run with the system Python, which has PyGObject) serving a video file as H.264 over RTSP, looped.

    /usr/bin/python3 tests/helpers/rtsp_server.py VIDEO PORT [MOUNT [WIDTHxHEIGHT]]

With WIDTHxHEIGHT the video is scaled to that size (a camera that changed resolution).

Prints "ready rtsp://127.0.0.1:PORT/MOUNT" once it listens; stops on SIGTERM.
"""

import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    video, port = sys.argv[1], sys.argv[2]
    mount = sys.argv[3] if len(sys.argv) > 3 else "live"
    scale = ""
    if len(sys.argv) > 4:
        w, h = sys.argv[4].split("x")
        scale = f"videoscale ! video/x-raw,width={int(w)},height={int(h)} ! "
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    # Decode (paced to the clock, like a camera) and re-encode so that every client starts on a key frame;
    # the file loops (multifilesrc).
    factory.set_launch(
        f"( multifilesrc location={video} loop=true ! qtdemux ! h264parse ! avdec_h264 ! identity sync=true ! videoconvert ! "
        f"{scale}x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! rtph264pay name=pay0 pt=96 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory(f"/{mount}", factory)
    if server.attach(None) == 0:
        print("error: cannot listen", flush=True)
        return 1
    loop = GLib.MainLoop()
    signal.signal(signal.SIGTERM, lambda *a: loop.quit())
    print(f"ready rtsp://127.0.0.1:{port}/{mount}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
