"""Frame sources: the demo clip, files with a broken frame, image folders, and one-line failures."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.sources import DEMO_CLIP, LISTED_SKIPS, SourceError, open_source


def _write_mjpeg(path: Path, n: int = 30, size: tuple[int, int] = (160, 120)) -> Path:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, size)
    for i in range(n):
        img = np.full((size[1], size[0], 3), i * 8, np.uint8)
        cv2.putText(img, str(i), (40, 80), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
        w.write(img)
    w.release()
    return path


def _read_all(src) -> list:
    frames = []
    while (f := src.read()) is not None:
        frames.append(f)
    return frames


def test_demo_clip_plays_every_frame_in_order():
    assert DEMO_CLIP.is_file()
    with open_source("demo", realtime=False) as src:
        frames = _read_all(src)
    assert len(frames) == 192 and [f.index for f in frames] == list(range(len(frames)))  # 8 s at 23.976 fps
    assert frames[0].image.shape == (360, 640, 3) and frames[0].image.dtype == np.uint8
    positions = [f.position_s for f in frames]
    assert positions[0] == 0 and positions == sorted(positions) and src.fps == pytest.approx(23.976, abs=0.01)


def test_a_frame_that_does_not_decode_is_skipped_and_logged(tmp_path, caplog):
    path = _write_mjpeg(tmp_path / "clip.avi")
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    data[starts[15] : starts[16] - 8] = bytes(starts[16] - 8 - starts[15])  # wipe frame 15's JPEG
    path.write_bytes(bytes(data))
    with open_source(str(path), realtime=False) as src:
        frames = _read_all(src)
    assert len(frames) == 29 and src.skipped == 1
    assert "frame 15 does not decode; skipped" in caplog.text
    # the frames after the broken one are the right ones (brightness 8·i)
    assert frames[15].image[5, 5, 0] == pytest.approx(16 * 8, abs=6)


def test_a_truncated_file_plays_what_it_has_then_ends(tmp_path):
    path = _write_mjpeg(tmp_path / "clip.avi")
    data = path.read_bytes()
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    path.write_bytes(data[: starts[20] + 100])  # cut inside frame 20 (and the index at the end is gone)
    with open_source(str(path), realtime=False) as src:
        frames = _read_all(src)
    assert 19 <= len(frames) <= 20
    assert [int(round(f.image[5, 5, 0] / 8)) for f in frames[:19]] == list(range(19))


def test_a_file_cut_before_its_index_names_each_frame_it_skips_once(tmp_path, caplog):
    """An MP4 cut short (its header and first bytes only): OpenCV opens it but reports a garbage position after the
    second failed frame, and seeking there started the file over; the first skipped frames are named in order, each
    once, the rest counted, and the source then fails in one line."""
    path = tmp_path / "cut.mp4"
    path.write_bytes(DEMO_CLIP.read_bytes()[:5000])
    with pytest.raises(SourceError, match="no frame decodes"):
        with open_source(str(path), realtime=False) as src:
            _read_all(src)
    named = [int(line.split("frame ")[1].split()[0]) for line in caplog.text.splitlines() if "does not decode; skipped" in line]
    assert named == list(range(LISTED_SKIPS))  # the first ones, in order, each once; the rest only counted
    assert caplog.text.count("further frames that do not decode are skipped and counted, not listed") == 1


def test_a_looping_file_starts_again_with_indices_going_on(tmp_path):
    path = _write_mjpeg(tmp_path / "clip.avi", n=10)
    with open_source(str(path), realtime=False, loop=True) as src:
        frames = [src.read() for _ in range(25)]
    assert [f.index for f in frames] == list(range(25))
    assert [int(round(f.image[5, 5, 0] / 8)) for f in frames] == [i % 10 for i in range(25)]


def test_image_folder_in_name_order_skipping_unreadable_files(tmp_path):
    for i in range(4):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), np.full((20, 30, 3), 40 * i, np.uint8))
    (tmp_path / "002.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("ignored")
    with open_source(str(tmp_path), realtime=False) as src:
        frames = _read_all(src)
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 40, 120] and src.skipped == 1


@pytest.mark.parametrize(
    "spec, message",
    [
        ("{tmp}/missing.mp4", "does not exist"),
        ("{tmp}/text.mp4", "is not a readable video"),
        ("{tmp}/empty", "holds no images"),
        ("rtsp://127.0.0.1:9/nothing-here", "did not answer within 2 s"),
        ("97", "camera 97 cannot be opened"),
    ],
)
def test_sources_that_cannot_open_fail_with_one_line(tmp_path, capfd, spec, message):
    (tmp_path / "text.mp4").write_text("this is not a video")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match=message) as err:
        open_source(spec.format(tmp=tmp_path), realtime=False, open_timeout_s=2)
    assert "\n" not in str(err.value)
    native = capfd.readouterr().err  # what OpenCV itself wrote to the process's stderr while trying
    assert "[ WARN:" not in native and "[ERROR:" not in native, native
