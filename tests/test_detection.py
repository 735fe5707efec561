"""realtime.detection: BlazePose decoding maths, the tracker, crop boxes, and a real frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from realtime.detection.blazepose import (
    AnchorOptions,
    Roi,
    box_iou,
    decode_detections,
    letterbox,
    roi_from_alignment,
    ssd_anchors,
    weighted_nms,
)
from realtime.detection.tracker import PersonTracker, crop_box

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
if not MEDIA.is_dir():
    MEDIA = Path("/work/shared/media")


# ------------------------------------------------------------------------------------- anchors / decode


def test_anchors_match_the_pose_detector_layout():
    a = ssd_anchors()
    assert a.shape == (2254, 4)  # 28²·2 + 14²·2 + 7²·6: the detector's output rows
    np.testing.assert_allclose(a[:2, :2], [[0.5 / 28, 0.5 / 28]] * 2)  # 2 anchors per stride-8 cell
    np.testing.assert_allclose(a[2, :2], [1.5 / 28, 0.5 / 28])  # x varies fastest
    np.testing.assert_allclose(a[-1, :2], [6.5 / 7, 6.5 / 7])
    assert np.all(a[:, 2:] == 1.0)  # fixed anchor size
    assert len(ssd_anchors(AnchorOptions(input_size=128, strides=(8, 16, 16, 16)))) == 896  # BlazeFace's layout


def test_decode_places_box_and_keypoints_relative_to_the_anchor():
    anchors = ssd_anchors()
    raw = np.zeros((len(anchors), 12), np.float32)
    logits = np.full(len(anchors), -20.0, np.float32)
    k = 1000
    raw[k, :4] = [22.4, -11.2, 44.8, 67.2]  # dx, dy, w, h in model pixels
    raw[k, 4:6] = [0.0, 0.0]
    raw[k, 6:8] = [0.0, -56.0]
    logits[k] = 3.0
    boxes, kps, scores = decode_detections(raw, logits[:, None], anchors, min_score=0.5)
    assert boxes.shape == (1, 4) and kps.shape == (1, 4, 2)
    cx, cy = anchors[k, 0] + 0.1, anchors[k, 1] - 0.05
    np.testing.assert_allclose(boxes[0], [cx - 0.1, cy - 0.15, cx + 0.1, cy + 0.15], atol=1e-6)
    np.testing.assert_allclose(kps[0, 0], anchors[k, :2], atol=1e-6)
    np.testing.assert_allclose(kps[0, 1], anchors[k, :2] + [0, -0.25], atol=1e-6)
    np.testing.assert_allclose(scores, [1 / (1 + np.exp(-3.0))], rtol=1e-5)
    # Nothing above the threshold → empty, well-shaped outputs.
    b, kp, s = decode_detections(raw, np.full(len(anchors), -5.0), anchors)
    assert b.shape == (0, 4) and kp.shape == (0, 4, 2) and s.shape == (0,)


def test_weighted_nms_merges_overlaps_and_keeps_separate_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    kps = np.stack([boxes[:, :2], boxes[:, 2:]], 1)  # (3, 2, 2)
    scores = np.array([0.6, 0.9, 0.7], np.float32)
    b, k, s = weighted_nms(boxes, kps, scores, iou_threshold=0.3)
    assert len(b) == 2
    np.testing.assert_allclose(s, [0.9, 0.7])
    np.testing.assert_allclose(b[0], [0.6, 0, 10.6, 10], atol=1e-5)  # (0.9·1 + 0.6·0) / 1.5 = 0.6
    np.testing.assert_allclose(k[0, 0], [0.6, 0], atol=1e-5)
    np.testing.assert_allclose(b[1], boxes[2])
    # Below the threshold the two overlapping boxes stay apart.
    assert len(weighted_nms(boxes, kps, scores, iou_threshold=0.95)[0]) == 3
    assert weighted_nms(boxes[:0], kps[:0], scores[:0])[0].shape == (0, 4)


def test_box_iou():
    iou = box_iou(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]))
    np.testing.assert_allclose(iou, [[1.0, 50 / 150, 0.0]])


def test_letterbox_maps_back_to_image_pixels():
    img = np.zeros((100, 200, 3), np.uint8)
    img[40:60, 150:170] = 255
    sq, scale, (px, py) = letterbox(img, 224)
    assert sq.shape == (224, 224, 3) and scale == pytest.approx(224 / 200) and (px, py) == (0.0, 56.0)
    ys, xs = np.nonzero(sq[..., 0] > 128)
    assert (xs.mean() - px) / scale == pytest.approx(160, abs=1.5)
    assert (ys.mean() - py) / scale == pytest.approx(50, abs=1.5)


def test_roi_rotation_and_round_trip():
    upright = roi_from_alignment([100, 300], [100, 200], expand=1.0)  # body point straight above the hips
    assert upright.angle == pytest.approx(0) and upright.size == pytest.approx(200)
    leaning = roi_from_alignment([100, 300], [200, 300], expand=1.25)  # lying, head to the right
    assert leaning.angle == pytest.approx(np.pi / 2) and leaning.size == pytest.approx(250)
    # The ROI's top edge faces the head: its top-centre lies towards +x.
    top_mid = leaning.corners()[:2].mean(0)
    assert top_mid[0] > leaning.cx + 100
    roi = Roi(320.0, 240.0, 150.0, 0.4)
    fwd, back = roi.to_input(256), roi.from_input(256)
    p = np.array([[300.0, 250.0], [350.0, 200.0]])
    q = p @ fwd[:, :2].T + fwd[:, 2]
    np.testing.assert_allclose(q @ back[:, :2].T + back[:, 2], p, atol=1e-3)
    np.testing.assert_allclose(np.array([roi.cx, roi.cy]) @ fwd[:, :2].T + fwd[:, 2], [128, 128], atol=1e-3)


# ------------------------------------------------------------------------------------- tracker


def _box(cx, cy, w=40.0, h=100.0):
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


def test_crop_box_is_a_scaled_square():
    assert crop_box([10, 20, 50, 120], 1.2) == pytest.approx((30, 70, 120))
    assert crop_box([0, 0, 80, 40], 1.0) == pytest.approx((40, 20, 80))


def test_ids_survive_a_short_gap_and_renew_after_a_long_one():
    trk = PersonTracker(max_persons=4, max_missed=5, smoothing=0.0)
    assert [t.id for t in trk.update([_box(100, 100)], 0)] == [0]
    assert [t.id for t in trk.update([_box(102, 100)], 1)] == [0]
    for f in (2, 3, 4):  # occluded for 3 frames
        assert trk.update([], f) == []
    assert [t.id for t in trk.update([_box(104, 100)], 5)] == [0]
    for f in range(6, 14):  # gone for 8 frames > max_missed
        trk.update([], f)
    assert trk.tracks == []
    assert [t.id for t in trk.update([_box(104, 100)], 14)] == [1]


def test_frame_index_gaps_count_as_misses():
    trk = PersonTracker(max_missed=3, smoothing=0.0)
    trk.update([_box(100, 100)], 0)
    assert [t.id for t in trk.update([_box(100, 100)], 3)] == [0]  # stride 3: no miss in between
    trk.update([], 7)  # 4 frames without a match
    assert trk.tracks == []


def test_two_crossing_people_keep_their_ids():
    trk = PersonTracker(max_persons=4, max_missed=5, iou_threshold=0.1, smoothing=0.3)
    # A walks right (near the camera: bigger), B walks left (farther, smaller); they cross at x=200.
    ids_a, ids_b = set(), set()
    for f in range(41):
        a = _box(100 + 5 * f, 200, 60, 150)
        b = _box(300 - 5 * f, 190, 40, 100)
        dets = [(a, 0.9), (b, 0.8)] if f % 2 else [(b, 0.8), (a, 0.9)]  # input order must not matter
        tracks = trk.update([np.append(d, s) for d, s in dets], f)
        assert len(tracks) == 2
        for t in tracks:
            (ids_a if np.allclose(t.raw_box, a) else ids_b).add(t.id)
    assert ids_a == {0} and ids_b == {1}


def test_max_persons_and_smoothing():
    trk = PersonTracker(max_persons=2, smoothing=0.5)
    tracks = trk.update([np.append(_box(x, 100), s) for x, s in ((100, 0.5), (300, 0.9), (500, 0.7))], 0)
    assert len(tracks) == 2 and {tuple(np.round(t.raw_box[:2])) for t in tracks} == {(280, 50), (480, 50)}
    t = trk.update([np.append(_box(310, 100), 0.9), np.append(_box(500, 100), 0.7)], 1)[0]
    assert t.raw_box[0] == pytest.approx(290) and t.box[0] == pytest.approx(285)  # halfway
    assert t.crop() == pytest.approx(crop_box(t.box))
    with pytest.raises(ValueError):
        PersonTracker(smoothing=1.0)


# ------------------------------------------------------------------------------------- real frame

class _Scripted:
    """A detector that always finds one box and a landmark model that answers from a script (no models)."""

    def __init__(self, script):
        self.script = iter(script)
        self.calls = 0

    def detect(self, frame_bgr, known=()):
        from realtime.detection.detector import Detection
        return [Detection(box=np.array([100.0, 20.0, 220.0, 230.0], np.float32), score=0.9)]

    def estimate(self, frame_bgr, roi):
        self.calls += 1
        return next(self.script)


def _figure(shift_down: float):
    """BlazePose's answer for an upright figure 160 px tall and 40 wide, moved ``shift_down`` px down: the face (landmarks 0–10)
    at the top, the body below; landmarks below a 240 px frame are absent (presence 0.05), as BlazePose says."""
    from realtime.detection.landmarks import Landmarks
    y = np.concatenate([np.linspace(30, 60, 11), np.linspace(75, 190, 22)]) + shift_down
    xy = np.stack([140.0 + 40.0 * (np.arange(33) % 2), y], 1).astype(np.float32)
    present = np.where(y < 240, 0.95, 0.05).astype(np.float32)
    return Landmarks(xy=xy, z=np.zeros(33, np.float32), visibility=present.copy(), presence=present, score=0.99,
                     roi=Roi(160.0, 110.0 + shift_down, 200.0), aux_xy=np.array([[160.0, 140.0 + shift_down], [160.0, 40.0 + shift_down]], np.float32))


def test_a_head_whose_body_is_all_out_of_frame_starts_no_track_but_a_followed_close_up_keeps_its_own():
    from realtime.detection import MultiPersonPose
    frame = np.zeros((240, 320, 3), np.uint8)
    assert _figure(0).body_in_frame(320, 240) == 22 and _figure(170).body_in_frame(320, 240) == 0
    ball = _Scripted(_figure(170) for _ in range(10))  # a round thing at the bottom edge taken for a face
    pose = MultiPersonPose(ball, ball, PersonTracker(), detect_every=5)
    assert [len(pose.process(frame, i)) for i in range(3)] == [0, 0, 0] and ball.calls == 3
    # Someone found whole, then moving in until only their head and one body landmark are in the frame: still followed.
    close_up = _Scripted(_figure(shift) for shift in range(0, 161, 10))
    pose = MultiPersonPose(close_up, close_up, PersonTracker(), detect_every=20)
    assert _figure(160).body_in_frame(320, 240) == 1
    ids = [[p.track.id for p in pose.process(frame, i)] for i in range(17)]
    assert ids == [[ids[0][0]]] * 17
    # The rule is a setting: 0 lets the ball through.
    ball = _Scripted(_figure(170) for _ in range(10))
    assert len(MultiPersonPose(ball, ball, PersonTracker(), detect_every=5, min_body_in_frame=0).process(frame, 0)) == 1




def test_a_followed_person_keeps_their_id_when_their_box_shrinks():
    """A person followed from a track's landmarks continues that track whatever their box does: here the legs are
    hidden for a few frames (visibility falls), the box shrinks to the upper body and its square overlaps the
    track's by less than the tracker's IoU — matched by overlap alone, the same person took a new id for those
    frames (a child jumping behind another, kids_jumping_on_bed frames 136-138)."""
    from realtime.detection import MultiPersonPose
    from realtime.detection.detector import Detection

    def legs_hidden(fig):
        fig.visibility[15:] = 0.1
        return fig

    frame = np.zeros((240, 320, 3), np.uint8)
    script = [_figure(0), _figure(0), legs_hidden(_figure(0)), legs_hidden(_figure(0)), _figure(0)]
    whole, upper = script[0].box(0.5), script[2].box(0.5)
    from realtime.detection.tracker import square_boxes
    assert box_iou(square_boxes(whole[None]), square_boxes(upper[None]))[0, 0] < 0.3  # overlap alone would not match
    est = _Scripted(script)
    pose = MultiPersonPose(est, est, PersonTracker(), detect_every=10)
    ids = [[p.track.id for p in pose.process(frame, i)] for i in range(len(script))]
    assert ids == [[0]] * len(script) and est.calls == len(script)
    # The tracker's rule itself: ``follows`` names the track; without it the same box starts a new one.
    trk = PersonTracker(smoothing=0.0)
    trk.update([Detection(box=whole, score=0.9)], 0)
    assert [t.id for t in trk.update([Detection(box=upper + 100, score=0.9, follows=0)], 1)] == [0]
    assert [t.id for t in trk.update([Detection(box=upper + 200, score=0.9)], 2)] == [1]
    assert [t.id for t in trk.update([Detection(box=upper, score=0.9, follows=7)], 3)] == [2]  # no such track: by overlap, new

@pytest.fixture(scope="module")
def portrait_frame():
    cv2 = pytest.importorskip("cv2")
    path = MEDIA / "single_person_portrait.mp4"
    if not path.is_file():
        pytest.skip(f"{path} not found (shared media absent)")
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 10)
    ok, frame = cap.read()
    cap.release()
    assert ok
    return frame


def test_detects_the_person_with_landmarks_inside_the_box(portrait_frame):
    pytest.importorskip("mediapipe")
    from realtime.detection import DetectionSetupError, LandmarkEstimator, MultiPersonPose, PersonDetector

    try:
        det, est = PersonDetector(), LandmarkEstimator()
    except DetectionSetupError as exc:
        pytest.skip(str(exc))
    dets = det.detect(portrait_frame)
    assert len(dets) >= 1 and dets[0].score > 0.5
    x0, y0, x1, y1 = dets[0].box
    h, w = portrait_frame.shape[:2]
    assert x1 - x0 > 0.3 * w  # the person fills much of the portrait frame
    lm = est.estimate(portrait_frame, dets[0])
    assert lm.xy.shape == (33, 2) and lm.visibility.shape == (33,) and lm.score > 0.5
    vis = lm.visibility > 0.5
    assert vis.sum() >= 20
    margin = 0.1 * (x1 - x0)
    inside = (lm.xy[:, 0] > x0 - margin) & (lm.xy[:, 0] < x1 + margin) & (lm.xy[:, 1] > y0 - margin) & (lm.xy[:, 1] < y1 + margin)
    assert inside[vis].all()
    # Anatomy sanity: shoulders above hips above ankles (image y grows downwards).
    assert lm.xy[11:13, 1].mean() < lm.xy[23:25, 1].mean() < lm.xy[27:29, 1].mean()
    people = MultiPersonPose(det, est).process(portrait_frame, 0)
    assert [p.id for p in people] == [0]
    # The model's other outputs come with the landmarks (the model issue's V-CNN features share this one pass).
    world = lm.world
    assert world.shape == (33, 3) and np.isfinite(world).all()
    assert np.linalg.norm(world[23:25].mean(0)) < 0.05  # metres, origin between the hips
    torso = np.linalg.norm(world[11:13].mean(0) - world[23:25].mean(0))
    assert 0.3 < torso < 0.8  # a grown-up's shoulder-to-hip distance in metres
    assert world[11:13, 1].mean() < world[23:25, 1].mean() < world[27:29, 1].mean()  # y down, like the image
    assert lm.heatmaps.shape == (64, 64, 39) and lm.segmentation.shape == (256, 256)
    to_input = lm.roi.to_input(256)  # frame pixels → the model's 256² input
    for j in np.flatnonzero(vis)[:10]:  # each visible landmark's heatmap peaks where the landmark is
        peak = np.unravel_index(np.argmax(lm.heatmaps[:, :, j]), (64, 64))
        at = to_input[:, :2] @ lm.xy[j] + to_input[:, 2]
        assert np.abs((np.array(peak[::-1]) + 0.5) * 4 - at).max() < 16, j
    inside_mask = [lm.segmentation[int(np.clip(y, 0, 255)), int(np.clip(x, 0, 255))] > 0
                   for x, y in (lm.xy[vis] @ to_input[:, :2].T + to_input[:, 2])]
    assert np.mean(inside_mask) > 0.6  # most visible landmarks lie on the person's mask


@pytest.fixture(scope="module")
def demo_frames():
    cv2 = pytest.importorskip("cv2")
    pytest.importorskip("mediapipe")
    from realtime.sources import DEMO_CLIP

    cap = cv2.VideoCapture(str(DEMO_CLIP))
    frames = [cap.read()[1] for _ in range(140)]
    cap.release()
    return frames


def _pose_pipeline(detect_every: int):
    from realtime.detection import DetectionSetupError, LandmarkEstimator, MultiPersonPose, PersonDetector

    try:
        return MultiPersonPose(PersonDetector(), LandmarkEstimator(), PersonTracker(), detect_every=detect_every)
    except DetectionSetupError as exc:
        pytest.skip(str(exc))


def test_following_landmarks_detects_rarely_and_agrees_with_detecting_every_frame(demo_frames):
    every, follow = _pose_pipeline(1), _pose_pipeline(10)
    gaps = []
    for i, frame in enumerate(demo_frames[:30]):
        a, b = every.process(frame, i), follow.process(frame, i)
        assert [p.id for p in a] == [0] and [p.id for p in b] == [0]
        vis = (a[0].landmarks.visibility > 0.5) & (b[0].landmarks.visibility > 0.5)
        gaps.append(np.median(np.linalg.norm(a[0].landmarks.xy[vis] - b[0].landmarks.xy[vis], axis=1)))
    assert every.detector_runs == 30 and follow.detector_runs == 3
    # One BlazePose landmark pass per person and frame between detections (the model reads that same pass); a
    # detection frame adds a pass only for a candidate not already followed (here: none).
    assert follow.people_out == 30 and follow.landmark_runs == 30
    person_height = np.ptp(a[0].landmarks.xy[:, 1])
    assert np.median(gaps) < 0.03 * person_height  # same landmarks, whichever region the model saw


def test_a_newcomer_is_found_at_the_next_detection(demo_frames):
    """One person, then a second (a mirrored moment of the clip) from frame 5: found by frame 10."""
    pose = _pose_pipeline(10)
    ids = []
    for i in range(20):
        left = demo_frames[i][:, 140:460]
        right = cv2_flip(demo_frames[i + 100])[:, 180:500] if i >= 5 else np.zeros_like(left)
        ids.append([p.id for p in pose.process(np.ascontiguousarray(np.concatenate([left, right], axis=1)), i)])
    assert all(x == [0] for x in ids[:10])  # between detections only the followed person is seen
    assert all(x == [0, 1] for x in ids[10:])
    assert pose.detector_runs == 2  # frames 0 and 10


def test_a_person_hidden_for_a_moment_is_looked_for_where_they_were(demo_frames):
    """Two people; the right one is hidden in frames 5–7 (someone crossing in front). With ``reacquire`` the frames
    between detections search a square where they were last seen, and they are back, same id, at frame 8;
    without it they wait for the next detection (frame 30)."""
    from realtime.detection import LandmarkEstimator, MultiPersonPose, PersonDetector

    def frame(i: int) -> np.ndarray:
        left = demo_frames[i][:, 140:460]
        right = cv2_flip(demo_frames[i + 100])[:, 180:500] if not 5 <= i <= 7 else np.zeros_like(left)
        return np.ascontiguousarray(np.concatenate([left, right], axis=1))

    seen = {}
    for reacquire in (True, False):
        pose = MultiPersonPose(PersonDetector(), LandmarkEstimator(), PersonTracker(), detect_every=30, reacquire=reacquire)
        seen[reacquire] = [[p.id for p in pose.process(frame(i), i)] for i in range(14)]
        assert seen[reacquire][:5] == [[0, 1]] * 5 and seen[reacquire][5:8] == [[0]] * 3
    from realtime.detection.multi_person import REACQUIRE_EVERY

    back = 8 + (-3) % REACQUIRE_EVERY  # the first searching frame from 8 on (the loss at 5 ran a detection)
    assert seen[True][back:] == [[0, 1]] * (14 - back)
    assert seen[False][8:] == [[0]] * 6


def cv2_flip(frame: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frame[:, ::-1])


def test_each_frames_people_keep_their_boxes_while_the_tracker_moves_on(demo_frames):
    """Later stages (crops, views, writers) work on a frame while the tracker is already frames ahead: the people
    of a frame carry snapshots of their tracks, not the tracker's live objects (a crop once read a later box)."""
    pose = _pose_pipeline(10)
    first = pose.process(demo_frames[0], 0)
    assert first
    box = first[0].track.box.copy()
    for i in range(1, 40):
        pose.process(demo_frames[i], i)
    live = next(t for t in pose.tracker.tracks if t.id == first[0].id)
    assert np.abs(live.box - box).max() > 1.0  # the person moved, and the tracker with them
    np.testing.assert_array_equal(first[0].track.box, box)  # frame 0's person did not


def test_blazepose_side_by_side_gives_one_models_results_in_order(demo_frames):
    from realtime.detection import DetectionSetupError, LandmarkEstimator, PersonDetector
    from realtime.detection.runtime import SideBySide

    try:
        estimator, single, paired = LandmarkEstimator(), PersonDetector(sweep=(2, 3)), PersonDetector(sweep=(2, 3), workers=2)
    except DetectionSetupError as exc:
        pytest.skip(str(exc))
    frame = demo_frames[0]
    h, w = frame.shape[:2]
    regions = [(0, 0, w // 2, h), (w // 4, 0, 3 * w // 4, h), (w // 2, 0, w, h), (0, 0, w, h)]  # different answers
    alone = [estimator.estimate(frame, r) for r in regions]
    pool = SideBySide(estimator, estimator.clone, workers=2)
    try:
        together = pool.map(lambda est, r: est.estimate(frame, r), regions)
    finally:
        pool.close()
    assert pool.made == 2  # a second interpreter was made and used
    assert len(together) == len(regions)
    for a, b in zip(alone, together):
        np.testing.assert_allclose(b.xy, a.xy, atol=1e-4)
        np.testing.assert_allclose(b.visibility, a.visibility, atol=1e-5)
        assert b.roi == a.roi
    assert np.ptp([lm.xy[0, 0] for lm in together]) > 1  # the regions' answers differ, so the order is checked
    # The detector's windows side by side (the first call runs the whole sweep: several windows).
    try:
        one, two = single.detect(frame), paired.detect(frame)
    finally:
        paired.close()
    assert paired.pool.made == 2 and len(one) == len(two) >= 1
    for a, b in zip(one, two):
        np.testing.assert_allclose(b.box, a.box, atol=1e-3)
        assert abs(a.score - b.score) < 1e-5


def test_side_by_side_runs_alone_without_a_clone():
    from realtime.detection.runtime import SideBySide

    pool = SideBySide("model", None, workers=4)
    assert pool.workers == 1 and pool.map(lambda m, x: (m, x), [1, 2, 3]) == [("model", 1), ("model", 2), ("model", 3)]
    with pytest.raises(ValueError, match="workers"):
        SideBySide("model", None, workers=0)


def test_world_landmarks_turn_with_the_image_as_mediapipe_gives_them():
    """A person turned a quarter turn in the image is the same body in turned image axes: the world landmarks
    (``Landmarks.world``, in the image's axes like MediaPipe's ``pose_world_landmarks``) turn with it. Until
    2026-11-29 they stayed in the turned region's axes, the same numbers upright or lying."""
    cv2 = pytest.importorskip("cv2")
    pytest.importorskip("mediapipe")
    from realtime.detection import DetectionSetupError, LandmarkEstimator, PersonDetector
    from realtime.sources import DEMO_CLIP

    cap = cv2.VideoCapture(str(DEMO_CLIP))
    ok, frame = cap.read()
    cap.release()
    assert ok, DEMO_CLIP
    try:
        det, est = PersonDetector(), LandmarkEstimator()
    except DetectionSetupError as exc:
        pytest.skip(str(exc))
    upright = est.estimate(frame, det.detect(frame)[0])
    # the frame turned a quarter turn clockwise on screen: pixel (x, y) goes to (h − y, x); the region with it
    h = frame.shape[0]
    turned_frame = cv2.rotate(frame, cv2.ROTATE_90_CLOCKWISE)
    r = upright.roi
    turned_roi = Roi(h - r.cy, r.cx, r.size, r.angle + np.pi / 2)
    turned = est.estimate(turned_frame, turned_roi)
    np.testing.assert_allclose(turned.xy, np.stack([h - upright.xy[:, 1], upright.xy[:, 0]], 1), atol=0.02 * r.size)
    quarter = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # (x, y, z) → (−y, x, z)
    np.testing.assert_allclose(turned.world, upright.world @ quarter.T, atol=0.03)
    assert np.abs(turned.world - upright.world).max() > 0.2  # not the same numbers: they turned
