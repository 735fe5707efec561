"""``LiveView``: the pipeline's visual output — 3D view, overlay, or both side by side, with a HUD —
shown in a window, recorded to MP4, or both; headless when there is no display.

A :class:`~realtime.pipeline.Sink`: it runs on the output thread, which also owns its OpenGL contexts.
One composition serves every case: the panels are rendered offscreen by Open3D, joined and
captioned with OpenCV, then shown (``cv2.imshow``; drag to orbit the 3D view, wheel to zoom, ``q`` or
Esc to quit) and/or written (``--record``), so the recording is exactly what the window shows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np

from .overlay import OverlayRenderer, PersonMesh
from .scene3d import Scene3D

__all__ = ["LiveView", "display_available", "draw_hud", "hud_lines", "idle_panel", "person_meshes"]

WINDOW = "DTS-VIBE Live"
IDLE_TEXT = "Step into view"


def display_available() -> bool:
    """Whether a window can be opened (an X or Wayland display is set)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def person_meshes(packet) -> list[PersonMesh]:
    """The people of a finished packet with their vertices, where they stand (``realtime.placement``) and boxes."""
    res = packet.results
    if res is None:
        return []
    place = res.placement
    boxes = {p.id: p.track.box for p in packet.people}
    return [PersonMesh(tid, res.vertices[i].astype(np.float64), place.transl[i], place.render_transl[i],
                       np.asarray(boxes.get(tid, (0, 0, 0, 0)), np.float64))
            for i, tid in enumerate(res.ids)]


class LiveView:
    """Args:
        mode: ``3d``, ``overlay`` or ``both``.
        faces: ``(F, 3)`` mesh faces (the bundle's ``faces.npy``).
        size: the 3D panel's size when alone (``view.width × view.height``); beside the overlay it
            takes the frame's size.
        show: open a window; record: an MP4 path for what the window shows; fps: its frame rate.
        kiosk: full screen, and the idle screen when nobody is in view.
        hud: ``(people) -> lines`` drawn top-left (see :func:`hud_lines`); on_quit: called on ``q``/Esc.
    """

    def __init__(self, mode: str, faces: np.ndarray, size: tuple[int, int] = (1280, 720),
                 show: bool = True, record: Optional[str | Path] = None, fps: float = 30.0, kiosk: bool = False,
                 hud: Optional[Callable[[int], list[str]]] = None, on_quit: Optional[Callable[[], None]] = None) -> None:
        if mode not in ("3d", "overlay", "both"):
            raise ValueError(f"view mode {mode!r}: use 3d, overlay or both")
        self.mode, self.faces, self.size = mode, np.asarray(faces), size
        self.show, self.kiosk, self.fps = show, kiosk, fps or 30.0
        self.record = Path(record) if record else None
        self.hud, self.on_quit = hud, on_quit
        self.scene: Optional[Scene3D] = None
        self.overlay: Optional[OverlayRenderer] = None
        self.writer: Optional[cv2.VideoWriter] = None
        self.canvas_size: Optional[tuple[int, int]] = None
        self.frames = 0
        self._drag: Optional[tuple[int, int]] = None
        self._window_open = False

    # -- composition ---------------------------------------------------------------------------------
    def _panel_3d(self, people: list[PersonMesh], size: tuple[int, int]) -> np.ndarray:
        if self.scene is None or (self.scene.width, self.scene.height) != size:
            if self.scene is not None:
                self.scene.close()
            self.scene = Scene3D(*size)
        rgb = self.scene.render(people, self.faces)
        if rgb is None:
            return idle_panel(size, IDLE_TEXT if self.kiosk else "nobody in view")
        return np.ascontiguousarray(rgb[..., ::-1])

    def _panel_overlay(self, frame: np.ndarray, people: list[PersonMesh]) -> np.ndarray:
        h, w = frame.shape[:2]
        if self.overlay is None or (self.overlay.width, self.overlay.height) != (w, h):
            if self.overlay is not None:
                self.overlay.close()
            self.overlay = OverlayRenderer(w, h)
        return self.overlay.draw(frame, people, self.faces)

    def compose(self, packet) -> np.ndarray:
        """The image the window shows for this packet (BGR uint8)."""
        frame = packet.frame.image
        h, w = frame.shape[:2]
        people = person_meshes(packet)
        if self.mode == "overlay":
            canvas = self._panel_overlay(frame, people)
        elif self.mode == "3d":
            canvas = self._panel_3d(people, self.size)
        else:
            canvas = np.concatenate([self._panel_overlay(frame, people), self._panel_3d(people, (w, h))], axis=1)
        if self.canvas_size is None:
            self.canvas_size = (canvas.shape[1], canvas.shape[0])
        elif (canvas.shape[1], canvas.shape[0]) != self.canvas_size:  # the source changed resolution
            canvas = cv2.resize(canvas, self.canvas_size)
        if self.kiosk and not people and self.mode == "overlay":
            canvas = idle_panel(self.canvas_size, IDLE_TEXT, canvas)
        draw_hud(canvas, self.hud(len(people)) if self.hud else [f"people {len(people)}"])
        return canvas

    # -- sink ----------------------------------------------------------------------------------------
    def write(self, packet) -> None:
        canvas = self.compose(packet)
        if self.record is not None:
            if self.writer is None:
                self.record.parent.mkdir(parents=True, exist_ok=True)
                self.writer = cv2.VideoWriter(str(self.record), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.canvas_size)
                if not self.writer.isOpened():
                    raise RuntimeError(f"cannot write {self.record}: OpenCV has no MP4 writer here")
            self.writer.write(canvas)
        if self.show:
            self._show(canvas)
        self.frames += 1

    def _show(self, canvas: np.ndarray) -> None:
        if not self._window_open:
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
            if self.kiosk:
                cv2.setWindowProperty(WINDOW, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN)
            cv2.setMouseCallback(WINDOW, self._mouse)
            self._window_open = True
        cv2.imshow(WINDOW, canvas)
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27) and self.on_quit is not None:
            self.on_quit()

    def _mouse(self, event: int, x: int, y: int, flags: int, _param) -> None:
        if self.scene is None:
            return
        if event == cv2.EVENT_LBUTTONDOWN:
            self._drag = (x, y)
        elif event == cv2.EVENT_LBUTTONUP:
            self._drag = None
        elif event == cv2.EVENT_MOUSEMOVE and self._drag is not None and flags & cv2.EVENT_FLAG_LBUTTON:
            self.scene.orbit(-(x - self._drag[0]) * 0.4, (y - self._drag[1]) * 0.3)
            self._drag = (x, y)
        elif event == cv2.EVENT_MOUSEWHEEL:
            self.scene.zoom(0.9 if flags > 0 else 1.1)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        for r in (self.scene, self.overlay):
            if r is not None:
                r.close()
        self.scene = self.overlay = None
        if self._window_open:
            cv2.destroyWindow(WINDOW)
            self._window_open = False


def idle_panel(size: tuple[int, int], text: str, background: Optional[np.ndarray] = None) -> np.ndarray:
    """A dark panel (or ``background`` darkened) with ``text`` centred: what a kiosk shows when nobody is there."""
    w, h = size
    panel = np.full((h, w, 3), 32, np.uint8) if background is None else (background * 0.35).astype(np.uint8)
    scale = max(0.6, w / 900)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.putText(panel, text, ((w - tw) // 2, (h + th) // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (235, 235, 235), 2, cv2.LINE_AA)
    return panel


def draw_hud(img: np.ndarray, lines: list[str]) -> None:
    """White text on a translucent dark box, top-left, in place."""
    if not lines:
        return
    scale, pad, step = 0.55, 8, 22
    width = max(cv2.getTextSize(s, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] for s in lines) + 2 * pad
    height = step * len(lines) + pad
    roi = img[:height, :width]
    roi[...] = (roi * 0.45).astype(np.uint8)
    for i, s in enumerate(lines):
        cv2.putText(img, s, (pad, pad + 14 + i * step), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def hud_lines(stats) -> Callable[[int], list[str]]:
    """The HUD's lines from the pipeline's :class:`~realtime.stats.PipelineStats`: end-to-end fps,
    capture→output latency p50/p95, the number of people, and each stage's p50/p95 latency."""

    def lines(people: int) -> list[str]:
        summary = stats.summary()
        s = summary.get(stats.END_TO_END)
        if not s or not s["count"]:
            return [f"people {people}"]
        out = [f"{s['fps']:.1f} fps   people {people}", f"latency p50 {s['p50_ms']:.0f} ms  p95 {s['p95_ms']:.0f} ms"]
        for name, st in summary.items():
            if name not in (stats.END_TO_END, "capture", "outputs"):
                out.append(f"{name} {st['p50_ms']:.0f} / {st['p95_ms']:.0f} ms")
        return out

    return lines
