"""People and their 2D landmarks, offline, several per frame; numpy in, numpy out, no torch.

Approach: MediaPipe's shipped BlazePose models run directly through LiteRT (``ai-edge-litert``):
``pose_detection.tflite`` finds every person (our decoder: SSD anchors, box/keypoint decoding,
weighted NMS in :mod:`.blazepose`), then ``pose_landmark_full.tflite`` gives 33 landmarks per person
on the rotated region that the detector's alignment keypoints define. :class:`PersonTracker` keeps
ids. ``mediapipe.solutions.pose`` is not used: it follows one person only.

Why (measured on this 2-core CPU, 1 interpreter thread, /work/shared/media clips; mmpose_demo is a
960×540 street scene with ~6 people taller than 100 px, the other two show one person):

* BlazePose detector, whole frame: 13–17 ms/frame; finds the person in 40/40 portrait and 52/52 taiji
  frames (every 8th), but only 1 of the ~6 people per mmpose_demo frame (they are small and far).
* … plus 2 square tiles (``tiles=2``): 36–46 ms/frame, 1.6 people per mmpose_demo frame;
  plus 3 tiles (``tiles=3``): 48–61 ms/frame, 2.4 per frame (3 distinct tracks over the clip).
* MediaPipe face detection (full range) as person seeds: 7–13 ms/frame, but a person in only 20 %
  (mmpose_demo), 28 % (portrait, head turned) and 92 % (taiji) of the frames.
* Landmarks, our LiteRT pass of ``pose_landmark_full.tflite``: 16.5 ms/person. The legacy Pose
  solution (``static_image_mode=True``) on the same crop: 35.2 ms/person for the same landmarks
  (median 0.8 % of the region apart), because it runs its own detector again.
* Whole pipeline (:class:`MultiPersonPose`, one person in view): 35–43 ms/frame with ``tiles=0``,
  65–69 with ``tiles=2``, 83–96 with ``tiles=3``; one stable id on every clip (taiji read every 8th
  frame included); no duplicate person on the portrait clip after :func:`same_person`.

Face seeds miss people seen from the side or behind; the legacy solution doubles the landmark cost.
So: BlazePose detector + landmark model on LiteRT; ``tiles`` trades time for small/far people.

Far people (RTSP cameras over courts and streets; measured on generated crowds, docs/bench/detection): the
detector finds people of about ¼ of its input's height, so the whole frame misses everyone below ~¼ of the
frame. ``PersonDetector(sweep=(2, 3), sweep_per_run=2, motion_windows=3)`` adds squares of ½ and ⅓ of the
frame's short side: the first detection looks at all of them, later ones at two in turn plus the three
holding most of the motion that no followed person explains (a static camera's people walk). The landmark
model then runs on each found person's own region, enlarged to its input: small people get an upscaled
pass. ``hog_upscale`` adds OpenCV's HOG people detector (real pedestrians, blurred and far, which the
face-keyed BlazePose detector misses on a street clip; ~0.5 s per 960×540 frame at ×2, spread over 4
detections): the ``room`` live preset.

The landmark model also ships as ONNX (``assets/pose_landmark_full.onnx``, tf2onnx's TFLite reader run by
``tools/convert_blazepose.py``; LiteRT's outputs within 1e-3, landmarks in MediaPipe's normalised units)
so that ONNX Runtime and TensorRT can run it: ``LandmarkEstimator(runtime="litert" | "onnxruntime" |
"auto")``. On this CPU LiteRT is the faster (docs/bench/blazepose_onnx.md), so ``auto`` keeps it there and
takes ONNX Runtime where it has a GPU. The detector stays on LiteRT (its sparse weights do not convert).

Public API::

    det = PersonDetector(min_score=0.5, sweep=(2, 3), motion_windows=3)  # detect(frame_bgr, known_boxes) -> [Detection]
    est = LandmarkEstimator(runtime="auto")           # estimate(frame_bgr, roi | Detection | box) -> Landmarks
    trk = PersonTracker(max_persons=4, max_missed=15, iou_threshold=0.3, smoothing=0.5)
    trk.update(detections, frame_index) -> [Track(id, box, ...)];  crop_box(box, 1.2) -> (cx, cy, size)
    MultiPersonPose(det, est, trk).process(frame_bgr, frame_index) -> [PersonPose(track, landmarks)]

Limitations: BlazePose's detector keys on the head and is trained for people near the camera: small
far people need ``tiles``, and crowds with heavy overlap lose the hidden person (duplicate removal,
:func:`same_person`); on small, overlapping people the landmarks can mix two bodies. Every frame
runs the detector (MediaPipe's own graph reuses the last landmarks' region, ``Landmarks.next_roi``,
and skips it); the heatmap refinement of MediaPipe's graph is not applied. Needs ``ai-edge-litert``
(or ``tflite_runtime``/TensorFlow) besides ``mediapipe==0.10.21`` for the model files.
"""

from .blazepose import Roi, box_iou, decode_detections, ssd_anchors, weighted_nms
from .detector import Detection, PersonDetector
from .landmarks import NUM_LANDMARKS, LandmarkEstimator, Landmarks
from .multi_person import MultiPersonPose, PersonPose, same_person
from .runtime import DetectionSetupError
from .tracker import PersonTracker, Track, crop_box

__all__ = [
    "Roi", "box_iou", "decode_detections", "ssd_anchors", "weighted_nms",
    "Detection", "PersonDetector",
    "NUM_LANDMARKS", "LandmarkEstimator", "Landmarks",
    "MultiPersonPose", "PersonPose", "same_person",
    "DetectionSetupError",
    "PersonTracker", "Track", "crop_box",
]
