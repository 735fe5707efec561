"""Keyframed procedural motions: sitting, kneeling, crouching, lying, crawling and stretching.

The CMU library and :func:`.motion.procedural_motion` are almost all upright. Each motion here is a
short script of keyframe poses (per-joint Euler angles in :mod:`.motion`'s left convention, bounded by
:data:`KEYFRAME_LIMITS`, + a root tilt), each reached by an eased (smoothstep) slerp per joint and then
held. Per clip the timings, the keyframes (small random offsets), the heading and the variant are
random, all drawn from the clip's ``rng`` (same rng state → identical motion). The clip is a window of
``num_frames`` at a random start in the whole script (so most windows show a held pose or part of a
transition; :data:`P_HELD` of the windows are drawn around a held non-standing pose).

Root translation: horizontally the feet stay where they are (mid-ankle anchored; crawling moves the
pelvis forward at a steady pace); vertically the lowest vertex of the posed mean-shape body lies on the
floor (y = 0) in every frame. The generator re-grounds per frame with the clip's own shape (its
``ground_each``). For sitting on a chair the feet are the lowest part and the leg geometry puts the
pelvis at chair height (≈ 0.45–0.5 m); **no chair is rendered** — the person sits on nothing for now.

Conventions verified on the body (not guessed): hips a < 0 raise the thigh forward; knees a > 0 bend
(shank backwards); ankles a < 0 lift the toes (dorsiflexion); spine a > 0 bends forward, c leans
sideways; shoulders c < 0 lower the arm from the T-pose, c > 0 raise it overhead, a < 0 swings a
hanging arm forward; elbows b < 0 bend. Root tilt: ``rot_x(pitch)`` with pitch > 0 tipping forward
(+90° = face down, −90° = on the back), ``rot_z(roll)`` sideways. A foot is flat on the floor when
root pitch + hip a + knee a + ankle a ≈ 0 (all about the same x axis).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Callable, Optional

import numpy as np

from ..body.joint_sets import SMPL_JOINTS
from .geometry import matrix_to_rotvec, rot_x, rot_y, rot_z, rotvec_to_matrix
from .motion import _RIGHT, JOINT_LIMITS, J

__all__ = [
    "KEYFRAME_LIMITS", "KEYFRAMED_MOTIONS", "Key", "keyframed_motion", "motion_keys", "render_keys",
    "pose_to_euler", "contact_heights", "limits_array",
]

#: Per-joint Euler limits (degrees, left convention) for the keyframed motions: the generator's
#: :data:`.motion.JOINT_LIMITS` widened to the anatomical ranges these poses need (deep hip and knee
#: flexion, plantarflexion, spine and neck flexion/extension).
KEYFRAME_LIMITS: dict[str, tuple[tuple[float, float], ...]] = {
    **JOINT_LIMITS,
    "hip": ((-125, 30), (-35, 35), (-15, 45)),
    "knee": ((0, 155), (-5, 5), (-5, 5)),
    "ankle": ((-35, 50), (-15, 15), (-15, 15)),
    "spine1": ((-20, 40), (-20, 20), (-14, 14)),
    "spine2": ((-15, 30), (-20, 20), (-12, 12)),
    "spine3": ((-15, 25), (-15, 15), (-12, 12)),
    "neck": ((-35, 40), (-45, 45), (-25, 25)),
    "head": ((-25, 30), (-40, 40), (-20, 20)),
}

#: Share of windows centred (± half a key's span) on a key other than standing or the half-way
#: transitions; the others start anywhere in the script.
P_HELD = 0.6

KEYFRAMED_MOTIONS = (
    "sit_chair", "sit_lean", "sit_arms", "kneel_one", "kneel_both", "crouch",
    "lie_back", "lie_side", "lie_front", "crawl", "stretch_overhead", "stretch_side", "stretch_fold",
)


def limits_array() -> np.ndarray:
    """(24, 3, 2) lower/upper Euler limits (degrees) per joint from :data:`KEYFRAME_LIMITS`."""
    return np.array([KEYFRAME_LIMITS[n.replace("left_", "").replace("right_", "")] for n in SMPL_JOINTS], np.float64)


_LIM = limits_array()


@dataclass
class Key:
    """One keyframe: ``euler`` (24, 3) left-convention degrees (joint 0 unused), root ``pitch`` / ``roll``
    (degrees), reached in ``move`` s and held ``hold`` s; ``contacts``: vertex groups
    (:func:`contact_heights`) on the floor while held; ``name`` for the tests (e.g. "sit")."""

    euler: np.ndarray
    pitch: float = 0.0
    roll: float = 0.0
    move: float = 1.0
    hold: float = 0.5
    contacts: tuple[str, ...] = ()
    name: str = ""
    extra: dict = field(default_factory=dict)


# -- pose building -----------------------------------------------------------------------------------
def _set(e: np.ndarray, **joints) -> np.ndarray:
    """Copy of ``e`` (24, 3) with joints set: ``hip=(a, b, c)`` sets both sides, ``left_hip=...`` one;
    ``None`` in a triple keeps that angle."""
    e = e.copy()
    for name, abc in joints.items():
        names = [name] if name in J else [f"left_{name}", f"right_{name}"]
        for n in names:
            for k, v in enumerate(abc):
                if v is not None:
                    e[J[n], k] = v
    return e


def _stand(rng: np.random.Generator) -> np.ndarray:
    """A relaxed standing pose (24, 3): arms down, slight bends, random stance."""
    e = np.zeros((24, 3))
    for side in ("left", "right"):
        e[J[f"{side}_shoulder"]] = (rng.uniform(-12, 8), rng.uniform(-12, 4), -rng.uniform(66, 80))
        e[J[f"{side}_elbow"], 1] = -rng.uniform(5, 30)
        e[J[f"{side}_wrist"]] = rng.uniform(-12, 12, 3)
        e[J[f"{side}_hip"]] = (rng.uniform(-6, 3), 0, rng.uniform(0, 7))
        e[J[f"{side}_knee"], 0] = rng.uniform(0, 8)
    e[J["neck"]] = rng.uniform(-8, 8, 3)
    e[J["head"]] = rng.uniform(-6, 6, 3)
    return e


def _flat_feet(e: np.ndarray, pitch: float, sides=("left", "right")) -> np.ndarray:
    """Ankles set so that each foot is flat (root pitch + hip + knee + ankle = 0)."""
    e = e.copy()
    for s in sides:
        e[J[f"{s}_ankle"], 0] = -(pitch + e[J[f"{s}_hip"], 0] + e[J[f"{s}_knee"], 0])
    return e


def _seated(rng: np.random.Generator, base: np.ndarray, lean: float = 0.0) -> Key:
    """Sitting on a chair (thighs ~horizontal, shanks ~vertical, feet flat); ``lean`` forward (degrees)."""
    pitch = rng.uniform(-8, 4) + 0.5 * lean
    spread = rng.uniform(0, 15)
    e = base.copy()
    for s in ("left", "right"):
        h = -90 - pitch - rng.uniform(-8, 8)
        e = _set(e, **{f"{s}_hip": (h, rng.uniform(-5, 5), spread + rng.uniform(-3, 3)),
                       f"{s}_knee": (rng.uniform(80, 105), 0, 0)})
    e = _set(e, spine1=(0.25 * lean + rng.uniform(-5, 5), None, None), spine2=(0.15 * lean, None, None),
             spine3=(0.1 * lean, None, None), neck=(-0.2 * lean + rng.uniform(-8, 8), None, None))
    # hands on the thighs
    e = _set(e, shoulder=(rng.uniform(-45, -20), rng.uniform(-25, -5), rng.uniform(-78, -65)), elbow=(0, rng.uniform(-70, -40), 0))
    return Key(_flat_feet(e, pitch), pitch=pitch, contacts=("left_foot", "right_foot"), name="sit")


def _half_way(rng: np.random.Generator, base: np.ndarray, depth: float) -> Key:
    """Lowering / rising: hips back, torso forward, knees ``depth`` degrees, feet flat."""
    pitch = rng.uniform(20, 35)
    e = _set(base, hip=(-depth - pitch + rng.uniform(-5, 10), None, None), knee=(depth, 0, 0),
             spine1=(rng.uniform(5, 15), None, None), neck=(-15, None, None),
             shoulder=(rng.uniform(-60, -10), None, None))
    return Key(_flat_feet(e, pitch), pitch=pitch, move=rng.uniform(0.5, 0.9), hold=rng.uniform(0.0, 0.2), name="half")


def _upright(rng: np.random.Generator, base: np.ndarray) -> Key:
    return Key(base.copy(), pitch=rng.uniform(-3, 4), move=rng.uniform(0.6, 1.2), hold=rng.uniform(0.3, 1.5),
               contacts=("left_foot", "right_foot"), name="stand")


def _arm_gesture(rng: np.random.Generator, e: np.ndarray) -> np.ndarray:
    """Random arm poses: reach forward, raise, wave, cross the arms, hand to the face."""
    for s in ("left", "right"):
        kind = rng.integers(5)
        if kind == 0:  # reach forward
            e = _set(e, **{f"{s}_shoulder": (rng.uniform(-100, -60), rng.uniform(-40, 0), -80), f"{s}_elbow": (0, rng.uniform(-30, 0), 0)})
        elif kind == 1:  # raise sideways/up
            e = _set(e, **{f"{s}_shoulder": (rng.uniform(-30, 0), rng.uniform(-20, 10), rng.uniform(10, 70)), f"{s}_elbow": (0, rng.uniform(-60, 0), 0)})
        elif kind == 2:  # hand to the face
            e = _set(e, **{f"{s}_shoulder": (rng.uniform(-70, -40), rng.uniform(-60, -30), -70), f"{s}_elbow": (0, rng.uniform(-140, -115), 0)})
        elif kind == 3:  # crossed in front
            e = _set(e, **{f"{s}_shoulder": (rng.uniform(-50, -25), rng.uniform(-80, -55), -75), f"{s}_elbow": (0, rng.uniform(-110, -85), 0)})
    return e


# -- the motions (each: rng → keys) ----------------------------------------------------------------
def _sit_script(rng: np.random.Generator, variant: str) -> list[Key]:
    base = _stand(rng)
    stand = _upright(rng, base)
    down = _half_way(rng, base, rng.uniform(60, 80))
    sit = _seated(rng, base)
    sit.hold = rng.uniform(0.8, 2.5)
    sit.move = rng.uniform(0.5, 0.9)
    keys = [stand, down, sit]
    if variant == "sit_lean":
        lean = _seated(rng, base, lean=rng.uniform(35, 60))
        lean.euler = _set(lean.euler, shoulder=(rng.uniform(-70, -40), rng.uniform(-30, -10), -75), elbow=(0, rng.uniform(-100, -60), 0))
        lean.move, lean.hold, lean.name = rng.uniform(0.6, 1.2), rng.uniform(0.8, 2.5), "sit"
        keys += [lean, replace(sit, move=rng.uniform(0.6, 1.2))]
    elif variant == "sit_arms":
        for _ in range(int(rng.integers(2, 5))):
            g = replace(sit, euler=_arm_gesture(rng, sit.euler), move=rng.uniform(0.4, 1.0), hold=rng.uniform(0.2, 1.2))
            g.euler = _set(g.euler, neck=(None, rng.uniform(-35, 35), None))
            keys.append(g)
    up = _half_way(rng, base, rng.uniform(65, 85))
    return keys + [up, replace(_upright(rng, base), move=rng.uniform(0.5, 0.9))]


@lru_cache(maxsize=64)
def _tucked_knee(ankle: int) -> float:
    """Knee flexion (degrees) at which a kneeling leg (thigh vertical, ankle ``ankle``°) rests on its
    knee and its toes together (the shank rises towards the toes)."""

    def make(k: float) -> Key:
        return Key(_set(np.zeros((24, 3)), knee=(k, 0, 0), ankle=(ankle, 0, 0)))

    return _solve(make, 85.0, 140.0, "left_foot", "left_knee")


def _kneeling_leg(rng: np.random.Generator, e: np.ndarray, side: str, pitch: float) -> np.ndarray:
    """``side``'s thigh vertical, knee and tucked toes on the floor."""
    ankle = int(rng.integers(-10, 26))
    return _set(e, **{f"{side}_hip": (-pitch + rng.uniform(-4, 4), 0, rng.uniform(0, 8)), f"{side}_knee": (_tucked_knee(ankle), 0, 0),
                      f"{side}_ankle": (ankle, 0, 0)})


def _kneel_one_key(rng: np.random.Generator, base: np.ndarray, side: str) -> Key:
    """Kneeling on the ``side`` knee, the other foot planted in front (its knee solved for contact)."""
    other = "right" if side == "left" else "left"
    pitch = rng.uniform(-4, 8)
    e = _kneeling_leg(rng, _set(base, **{f"{other}_hip": (None, 0, rng.uniform(0, 10))}), side, pitch)
    if rng.random() < 0.5:  # a hand on the front knee
        e = _set(e, **{f"{other}_shoulder": (rng.uniform(-60, -35), rng.uniform(-20, 0), -75), f"{other}_elbow": (0, rng.uniform(-60, -20), 0)})
    delta = rng.uniform(-5, 10)

    def front(k: float) -> Key:
        ee = _set(e, **{f"{other}_knee": (k, 0, 0), f"{other}_hip": (-k + delta - pitch, None, None)})
        return Key(_flat_feet(ee, pitch, (other,)), pitch=pitch, contacts=(f"{side}_knee", f"{other}_foot"), name="kneel")

    k = _solve(front, 45.0, 125.0, f"{other}_foot", f"{side}_knee")
    key = front(k)
    key.move, key.hold = rng.uniform(0.7, 1.3), rng.uniform(0.8, 2.5)
    return key


def _kneel_both_key(rng: np.random.Generator, base: np.ndarray, heels: bool) -> Key:
    """Kneeling upright on both knees (toes tucked or pointed) or sitting back on the heels."""
    if heels:
        pitch = rng.uniform(-5, 10)
        e = _set(base, knee=(rng.uniform(145, 155), 0, 0), ankle=(rng.uniform(40, 50), 0, 0),
                 shoulder=(rng.uniform(-45, -20), rng.uniform(-25, -5), -72), elbow=(0, rng.uniform(-70, -40), 0))
        h = _solve(lambda x: Key(_set(e, hip=(x, 0, None)), pitch=pitch), -100.0, -30.0, "left_foot", "left_knee")
        e = _set(e, hip=(h, 0, rng.uniform(0, 8)))
    else:
        pitch = rng.uniform(-5, 8)
        e = _kneeling_leg(rng, _kneeling_leg(rng, base, "left", pitch), "right", pitch)
    return Key(e, pitch=pitch, move=rng.uniform(0.7, 1.3), hold=rng.uniform(0.8, 2.5),
               contacts=("left_knee", "right_knee"), name="kneel")


def _kneel_script(rng: np.random.Generator, variant: str) -> list[Key]:
    base = _stand(rng)
    side = "left" if rng.random() < 0.5 else "right"
    one = _kneel_one_key(rng, base, side)
    keys = [_upright(rng, base), _half_way(rng, base, rng.uniform(40, 60)), one]
    if variant == "kneel_both":
        keys.append(_kneel_both_key(rng, base, heels=False))
        if rng.random() < 0.5:
            keys.append(_kneel_both_key(rng, base, heels=True))
            keys.append(_kneel_both_key(rng, base, heels=False))
        keys.append(replace(one, move=rng.uniform(0.6, 1.0), hold=rng.uniform(0.1, 0.5)))
    keys.append(_upright(rng, base))
    return keys


def _crouch_key(rng: np.random.Generator, base: np.ndarray) -> Key:
    """A deep squat, feet flat (or heels slightly raised), arms forward or hands on the knees / floor."""
    k = rng.uniform(125, 150)
    heel = rng.uniform(0, 25) if rng.random() < 0.4 else 0.0
    pitch = rng.uniform(10, 25)
    h = -rng.uniform(105, 122)
    pitch = min(pitch, -(h + k) + 35 + heel)  # keeps the ankle within its dorsiflexion limit
    e = _set(base, hip=(h, None, rng.uniform(10, 30)), knee=(k, 0, 0), spine1=(rng.uniform(5, 25), None, None),
             spine2=(rng.uniform(0, 15), None, None), neck=(-rng.uniform(10, 30), None, None),
             shoulder=(rng.uniform(-90, -30), rng.uniform(-30, 0), -78), elbow=(0, rng.uniform(-60, -5), 0))
    e = _flat_feet(e, pitch)
    e[[J["left_ankle"], J["right_ankle"]], 0] += heel
    return Key(e, pitch=pitch, move=rng.uniform(0.8, 1.5), hold=rng.uniform(0.8, 2.5), contacts=("left_foot", "right_foot"), name="crouch")


def _crouch_script(rng: np.random.Generator, variant: str) -> list[Key]:
    base = _stand(rng)
    c = _crouch_key(rng, base)
    keys = [_upright(rng, base), c]
    if rng.random() < 0.5:  # look / reach around while down
        keys.append(replace(c, euler=_arm_gesture(rng, c.euler), move=rng.uniform(0.5, 1.0), hold=rng.uniform(0.3, 1.5)))
    return keys + [_upright(rng, base)]


def _floor_sit(rng: np.random.Generator, base: np.ndarray) -> Key:
    """Sitting on the floor, knees up, hands on the floor behind."""
    pitch = rng.uniform(-25, -10)
    k = rng.uniform(70, 110)
    e = _set(base, hip=(-rng.uniform(70, 95), 0, rng.uniform(0, 15)), knee=(k, 0, 0),
             shoulder=(rng.uniform(15, 40), rng.uniform(0, 20), -75), elbow=(0, -rng.uniform(0, 15), 0))
    e = _flat_feet(e, pitch)
    return Key(e, pitch=pitch, move=rng.uniform(0.7, 1.2), hold=rng.uniform(0.1, 0.6), name="floor_sit")


def _lie_back(rng: np.random.Generator, base: np.ndarray) -> Key:
    e = _set(base, hip=(rng.uniform(-8, 0), 0, rng.uniform(0, 10)), knee=(rng.uniform(0, 10), 0, 0), ankle=(rng.uniform(10, 35), 0, 0))
    for s in ("left", "right"):
        if rng.random() < 0.35:  # knee up, foot flat on the floor
            h, k = -rng.uniform(40, 60), rng.uniform(85, 110)
            e = _set(e, **{f"{s}_hip": (h, None, None), f"{s}_knee": (k, 0, 0), f"{s}_ankle": (float(np.clip(90 - h - k + 40, -35, 50)) - 40, 0, 0)})
        arm = rng.integers(3)
        if arm == 0:  # by the side
            e = _set(e, **{f"{s}_shoulder": (0, rng.uniform(-5, 5), rng.uniform(-80, -60)), f"{s}_elbow": (0, -rng.uniform(0, 20), 0)})
        elif arm == 1:  # hand on the belly
            e = _set(e, **{f"{s}_shoulder": (rng.uniform(-35, -20), rng.uniform(-40, -20), -72), f"{s}_elbow": (0, -rng.uniform(80, 110), 0)})
        else:  # overhead on the floor
            e = _set(e, **{f"{s}_shoulder": (0, rng.uniform(-5, 5), rng.uniform(55, 75)), f"{s}_elbow": (0, -rng.uniform(0, 40), 0)})
    e = _set(e, neck=(rng.uniform(0, 15), rng.uniform(-30, 30), None))
    return Key(e, pitch=-90 + rng.uniform(-3, 3), roll=rng.uniform(-4, 4), move=rng.uniform(1.0, 1.6), hold=rng.uniform(1.0, 3.0),
               contacts=("pelvis", "torso"), name="lie")


def _lie_side(rng: np.random.Generator, base: np.ndarray) -> Key:
    """On the side (right side down for roll > 0), legs drawn up, lower arm under the head."""
    down = "right" if rng.random() < 0.5 else "left"
    up = "left" if down == "right" else "right"
    roll = 90.0 if down == "right" else -90.0
    e = _set(base, **{f"{down}_hip": (-rng.uniform(20, 50), 0, -rng.uniform(0, 8)), f"{down}_knee": (rng.uniform(30, 70), 0, 0),
                      f"{up}_hip": (-rng.uniform(35, 70), 0, 0), f"{up}_knee": (rng.uniform(50, 90), 0, 0),
                      "ankle": (rng.uniform(10, 30), 0, 0),
                      f"{down}_shoulder": (-rng.uniform(80, 110), rng.uniform(-10, 10), -88),
                      f"{down}_elbow": (0, -rng.uniform(20, 90), 0),
                      f"{up}_shoulder": (rng.uniform(-60, -30), rng.uniform(-30, -10), -rng.uniform(40, 70)),
                      f"{up}_elbow": (0, -rng.uniform(10, 50), 0),
                      "neck": (rng.uniform(0, 15), None, (1 if down == "left" else -1) * rng.uniform(0, 15))})
    return Key(e, pitch=rng.uniform(-5, 10), roll=roll + rng.uniform(-6, 6), move=rng.uniform(1.0, 1.6), hold=rng.uniform(1.0, 3.0),
               contacts=(f"{down}_shoulder", "pelvis"), name="lie")


def _lie_front(rng: np.random.Generator, base: np.ndarray) -> Key:
    """Face down, head turned, feet pointed; arms by the side or overhead."""
    turn = rng.choice([-1.0, 1.0])
    e = _set(base, hip=(rng.uniform(-3, 5), 0, rng.uniform(0, 12)), knee=(rng.uniform(0, 25), 0, 0), ankle=(rng.uniform(40, 50), 0, 0),
             neck=(rng.uniform(-20, -5), turn * rng.uniform(35, 45), None), head=(rng.uniform(-10, 0), turn * rng.uniform(25, 40), None))
    if rng.random() < 0.5:  # by the side
        e = _set(e, shoulder=(0, rng.uniform(-5, 5), -rng.uniform(65, 80)), elbow=(0, -rng.uniform(0, 15), 0))
    else:  # overhead (elbows bent would push the forearms into the floor)
        e = _set(e, shoulder=(0, rng.uniform(-5, 10), rng.uniform(55, 75)), elbow=(0, -rng.uniform(0, 10), 0))
    return Key(e, pitch=90 + rng.uniform(-4, 2), roll=rng.uniform(-4, 4), move=rng.uniform(1.0, 1.6), hold=rng.uniform(1.0, 3.0),
               contacts=("torso", "pelvis"), name="lie")


def _all_fours(rng: np.random.Generator, base: np.ndarray, swing: float = 0.0, lift: Optional[str] = None) -> Key:
    """On hands and knees; ``swing`` > 0 moves the left hand and right knee forward (degrees), < 0 the
    other diagonal. The root pitch is solved so that hands and knees both touch the floor."""
    ankle = int(rng.integers(-10, 26))
    e = _set(base, hip=(-90, 0, rng.uniform(0, 8)), knee=(_tucked_knee(ankle), 0, 0), ankle=(ankle, 0, 0),
             shoulder=(-90, 0, -rng.uniform(76, 84)), elbow=(0, -rng.uniform(0, 15), 0), wrist=(0, 0, rng.uniform(50, 60)),
             neck=(-rng.uniform(10, 30), None, None), spine1=(rng.uniform(-10, 5), None, None))
    for s, sg in (("left", 1.0), ("right", -1.0)):
        e[J[f"{s}_shoulder"], 0] -= sg * swing
        e[J[f"{s}_hip"], 0] += sg * swing
        e[J[f"{s}_knee"], 0] -= sg * swing  # the shank keeps its slope

    def tilt(p: float) -> Key:
        ee = e.copy()
        for s in ("left", "right"):  # keep the thighs vertical in the world
            ee[J[f"{s}_hip"], 0] += 90 - p
            ee[J[f"{s}_shoulder"], 0] += 90 - p
        return Key(ee, pitch=p, contacts=("left_hand", "right_hand", "left_knee", "right_knee"), name="all_fours")

    p = _solve(tilt, 55.0, 95.0, "hands", "knees")
    return tilt(p)


def _lie_script(rng: np.random.Generator, variant: str) -> list[Key]:
    base = _stand(rng)
    keys = [_upright(rng, base)]
    if variant == "lie_front":
        keys += [_kneel_both_key(rng, base, heels=False), replace(_all_fours(rng, base), move=rng.uniform(0.8, 1.3), hold=rng.uniform(0.1, 0.6))]
        lie = _lie_front(rng, base)
        return keys + [lie, replace(keys[2], move=rng.uniform(1.0, 1.5)), replace(keys[1], move=rng.uniform(0.8, 1.2), hold=0.2),
                       replace(keys[0], move=rng.uniform(0.9, 1.4))]
    crouch = replace(_crouch_key(rng, base), hold=rng.uniform(0.0, 0.3))
    sit = _floor_sit(rng, base)
    lie = _lie_back(rng, base) if variant == "lie_back" else _lie_side(rng, base)
    back = [replace(sit, move=rng.uniform(0.9, 1.4)), replace(crouch, move=rng.uniform(0.8, 1.2)), replace(keys[0], move=rng.uniform(0.8, 1.2))]
    return keys + [crouch, sit, lie] + back


def _crawl_script(rng: np.random.Generator, variant: str) -> list[Key]:
    base = _stand(rng)
    amp = rng.uniform(10, 20)
    period = rng.uniform(0.9, 1.6)  # seconds per full cycle
    a, b = _all_fours(rng, base, amp), _all_fours(rng, base, -amp)
    keys = [replace(a, move=0.0, hold=rng.uniform(0.0, 0.3))]
    for i in range(int(np.ceil(8.0 / period))):
        nxt = b if i % 2 == 0 else a
        keys.append(replace(nxt, move=period / 2 * rng.uniform(0.9, 1.1), hold=0.0))
    # a swing of the hips by ``amp`` moves each limb about 2·0.45 m·sin(amp) per half cycle
    keys[0].extra["speed"] = 2 * 0.45 * np.sin(np.radians(amp)) / (period / 2)
    return keys


def _stretch_script(rng: np.random.Generator, variant: str) -> list[Key]:
    base = _stand(rng)
    stand = _upright(rng, base)
    up = _set(base, collar=(0, 0, rng.uniform(8, 20)), shoulder=(rng.uniform(-15, 5), rng.uniform(-10, 5), rng.uniform(62, 75)),
              elbow=(0, -rng.uniform(0, 15), 0), wrist=(0, 0, 0), spine1=(-rng.uniform(0, 12), None, None), neck=(-rng.uniform(0, 20), None, None))
    over = Key(up, pitch=rng.uniform(-5, 2), move=rng.uniform(0.8, 1.4), hold=rng.uniform(0.8, 2.0), contacts=("left_foot", "right_foot"),
               name="overhead")
    keys = [stand, over]
    if variant == "stretch_side":
        for sgn in rng.permutation([-1.0, 1.0]):
            bend = _set(up, spine1=(0, 0, sgn * rng.uniform(10, 14)), spine2=(0, 0, sgn * rng.uniform(8, 12)),
                        spine3=(0, 0, sgn * rng.uniform(8, 12)), neck=(0, 0, sgn * rng.uniform(5, 15)))
            roll = sgn * rng.uniform(5, 12)
            bend[[J["left_hip"], J["right_hip"]], 2] += np.array([1, -1]) * -roll  # legs stay vertical
            keys.append(Key(bend, pitch=0.0, roll=roll, move=rng.uniform(0.8, 1.4), hold=rng.uniform(0.6, 1.8),
                            contacts=("left_foot", "right_foot"), name="side_bend"))
        keys.append(replace(over, move=rng.uniform(0.8, 1.2), hold=0.3))
    elif variant == "stretch_fold":
        p = rng.uniform(65, 90)
        fold = _set(base, hip=(-p + rng.uniform(-5, 0), 0, rng.uniform(0, 6)), knee=(rng.uniform(0, 8), 0, 0),
                    spine1=(rng.uniform(20, 35), None, None), spine2=(rng.uniform(10, 25), None, None), spine3=(rng.uniform(5, 15), None, None),
                    neck=(rng.uniform(0, 20), 0, None), shoulder=(-rng.uniform(100, 125), rng.uniform(-15, 0), -rng.uniform(70, 85)),
                    elbow=(0, -rng.uniform(0, 15), 0))
        fold = _flat_feet(fold, p)
        keys = [stand, Key(fold, pitch=p, move=rng.uniform(1.2, 2.0), hold=rng.uniform(1.0, 2.5), contacts=("left_foot", "right_foot"),
                           name="fold")]
    return keys + [replace(stand, move=rng.uniform(0.8, 1.5))]


_SCRIPTS: dict[str, tuple[Callable[[np.random.Generator, str], list[Key]], float]] = {
    "sit_chair": (_sit_script, 0.10), "sit_lean": (_sit_script, 0.07), "sit_arms": (_sit_script, 0.08),
    "kneel_one": (_kneel_script, 0.08), "kneel_both": (_kneel_script, 0.08), "crouch": (_crouch_script, 0.09),
    "lie_back": (_lie_script, 0.09), "lie_side": (_lie_script, 0.08), "lie_front": (_lie_script, 0.08),
    "crawl": (_crawl_script, 0.09), "stretch_overhead": (_stretch_script, 0.05), "stretch_side": (_stretch_script, 0.05),
    "stretch_fold": (_stretch_script, 0.06),
}


def motion_keys(rng: np.random.Generator, motion: str) -> list[Key]:
    """The keyframe script of ``motion`` (one of :data:`KEYFRAMED_MOTIONS`), randomised by ``rng``."""
    keys = _SCRIPTS[motion][0](rng, motion)
    keys[0].move = 0.0
    return keys


# -- evaluation --------------------------------------------------------------------------------------
def _key_rotations(keys: list[Key]) -> np.ndarray:
    """Local rotation matrices (K, 24, 3, 3) of the keys (root = tilt, without heading), limits applied."""
    e = np.clip(np.stack([k.euler for k in keys]), _LIM[None, :, :, 0], _LIM[None, :, :, 1])
    e[:, _RIGHT, 1:] *= -1.0
    r = np.radians(e)
    mats = rot_x(r[..., 0]) @ rot_y(r[..., 1]) @ rot_z(r[..., 2])
    mats[:, 0] = rot_x(np.radians([k.pitch for k in keys])) @ rot_z(np.radians([k.roll for k in keys]))
    return mats


def _ease(x: np.ndarray) -> np.ndarray:
    """Smoothstep easing of x in [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def render_keys(keys: list[Key], times: np.ndarray, yaw: float = 0.0) -> np.ndarray:
    """Pose (T, 72) at ``times`` (s from the script's start): eased slerp per joint between keys."""
    mats = _key_rotations(keys)
    starts = np.cumsum([0.0] + [k.move + k.hold for k in keys[:-1]])  # when each key's move begins
    out = np.empty((len(times), 24, 3, 3))
    for i, t in enumerate(times):
        k = int(np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(keys) - 1))
        w = _ease((t - starts[k]) / keys[k].move) if keys[k].move > 0 else 1.0
        a = mats[max(k - 1, 0)]
        rel = matrix_to_rotvec(np.swapaxes(a, -1, -2) @ mats[k])
        out[i] = a @ rotvec_to_matrix(w * rel)
    out[:, 0] = rot_y(yaw) @ out[:, 0]
    return matrix_to_rotvec(out).reshape(len(times), 72)


def script_duration(keys: list[Key]) -> float:
    return float(sum(k.move + k.hold for k in keys))


def key_times(keys: list[Key]) -> np.ndarray:
    """(K,) the middle of each key's hold (s)."""
    ends = np.cumsum([k.move + k.hold for k in keys])
    return ends - np.array([k.hold for k in keys]) / 2


def pose_to_euler(pose: np.ndarray) -> np.ndarray:
    """Pose (T, 72) → left-convention Euler degrees (T, 24, 3) (``R = Rx(a)·Ry(b)·Rz(c)``, right joints
    mirrored back), the inverse of the keys' parametrisation for the limit checks."""
    from scipy.spatial.transform import Rotation

    e = Rotation.from_rotvec(np.asarray(pose, np.float64).reshape(-1, 3)).as_euler("XYZ", degrees=True).reshape(-1, 24, 3)
    # the same rotation as (a ∓ 180, ±180 − b, c ∓ 180): used when a and c both exceed 90° (b beyond ±90°)
    sb = np.where(e[..., 1] >= 0, 180.0, -180.0)
    alt = np.stack([e[..., 0] - np.sign(e[..., 0]) * 180, sb - e[..., 1], e[..., 2] - np.sign(e[..., 2]) * 180], -1)
    flip = (np.abs(e[..., 0]) > 90) & (np.abs(e[..., 2]) > 90)
    e = np.where(flip[..., None], alt, e)
    e[:, _RIGHT, 1:] *= -1.0
    return e


# -- the body: heights, contacts ---------------------------------------------------------------------
@lru_cache(maxsize=1)
def _body():
    from ..body import BodyModel

    return BodyModel.open()


@lru_cache(maxsize=1)
def _groups() -> dict[str, np.ndarray]:
    """Vertex groups (bool masks (V,)) by distance to rest-pose joints."""
    import torch

    b = _body()
    with torch.no_grad():
        rest = b()
    v, j = rest.vertices[0].double().numpy(), rest.joints[0].double().numpy()

    def near(names, r):
        return np.min([np.linalg.norm(v - j[J[n]], axis=1) for n in names], 0) < r

    g = {}
    for s in ("left", "right"):
        g[f"{s}_foot"] = near([f"{s}_ankle", f"{s}_foot"], 0.12) & (v[:, 1] < j[J[f"{s}_ankle"], 1] + 0.05)
        g[f"{s}_knee"] = near([f"{s}_knee"], 0.10)
        g[f"{s}_hand"] = near([f"{s}_hand", f"{s}_wrist"], 0.09) & (np.abs(v[:, 0]) > np.abs(j[J[f"{s}_wrist"], 0]) - 0.02)
        g[f"{s}_shoulder"] = near([f"{s}_shoulder"], 0.14)
    g["feet"], g["knees"], g["hands"] = g["left_foot"] | g["right_foot"], g["left_knee"] | g["right_knee"], g["left_hand"] | g["right_hand"]
    g["pelvis"] = near(["pelvis", "left_hip", "right_hip"], 0.2) & (v[:, 1] > j[J["left_knee"], 1] + 0.15)
    g["torso"] = near(["spine1", "spine2", "spine3"], 0.22)
    g["head"] = near(["head"], 0.16)
    return g


def _vertices(pose: np.ndarray) -> np.ndarray:
    """Mean-shape vertices (T, V, 3) of pose (T, 72), no translation."""
    import torch

    with torch.no_grad():
        out = _body()(pose=torch.as_tensor(pose, dtype=torch.float32).reshape(-1, 24, 3))
    return out.vertices.double().numpy()


def contact_heights(pose: np.ndarray, transl: np.ndarray, groups: tuple[str, ...]) -> np.ndarray:
    """(T, G) the lowest height (m) of each vertex group of the mean-shape body posed by pose (T, 72)
    + transl (T, 3)."""
    v = _vertices(pose) + transl[:, None]
    g = _groups()
    return np.stack([v[:, g[n], 1].min(1) for n in groups], -1)


def _solve(make: Callable[[float], Key], lo: float, hi: float, group_a: str, group_b: str, n: int = 12) -> float:
    """The parameter in [lo, hi] where ``make(x)``'s groups a and b are equally low (grid + linear
    interpolation; an end of the range when they never are)."""
    xs = np.linspace(lo, hi, n)
    keys = [make(x) for x in xs]
    pose = np.stack([render_keys([k], np.zeros(1))[0] for k in keys])
    v = _vertices(pose)
    g = _groups()
    d = v[:, g[group_a], 1].min(1) - v[:, g[group_b], 1].min(1)
    s = np.flatnonzero(np.sign(d[:-1]) != np.sign(d[1:]))
    if len(s) == 0:
        return float(xs[np.argmin(np.abs(d))])
    i = s[0]
    return float(xs[i] + (xs[i + 1] - xs[i]) * d[i] / (d[i] - d[i + 1]))


def _translation(pose: np.ndarray, times: np.ndarray, heading: np.ndarray, speed: float) -> np.ndarray:
    """Root translation (T, 3): the mid-ankle point fixed (or the pelvis moving at ``speed`` m/s along
    ``heading`` (3,) when speed > 0); height so that the lowest vertex touches y = 0."""
    v = _vertices(pose)
    tr = np.zeros((len(pose), 3))
    if speed > 0:
        tr[:] = heading * speed * (times - times[0])[:, None]
    else:
        import torch

        b = _body()
        with torch.no_grad():
            joints = b(pose=torch.as_tensor(pose, dtype=torch.float32).reshape(-1, 24, 3)).joints.double().numpy()
        mid = joints[:, [J["left_ankle"], J["right_ankle"]]].mean(1)
        tr[:, [0, 2]] = -(mid[:, [0, 2]] - mid[:1, [0, 2]])
    tr[:, 1] = -v[..., 1].min(1)
    return tr


def keyframed_motion(
    rng: np.random.Generator, num_frames: int, fps: float = 30.0, motion: Optional[str] = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """A window of a keyframed motion: ``(pose (T, 72), transl (T, 3), activity)`` in the world frame
    (+y up, floor y = 0), ``activity`` ∈ :data:`KEYFRAMED_MOTIONS` (random unless ``motion``)."""
    names = list(_SCRIPTS)
    p = np.array([_SCRIPTS[n][1] for n in names])
    act = motion or str(rng.choice(names, p=p / p.sum()))
    keys = motion_keys(rng, act)
    dur = (num_frames - 1) / fps
    held = [i for i, k in enumerate(keys) if k.name not in ("stand", "half")]
    if held and rng.random() < P_HELD:  # around a random held pose
        i = held[int(rng.integers(len(held)))]
        start = key_times(keys)[i] - dur / 2 + rng.uniform(-0.5, 0.5) * (keys[i].hold + keys[i].move)
    else:
        start = rng.uniform(0.0, max(script_duration(keys) - dur, 0.0))
    start = float(np.clip(start, 0.0, max(script_duration(keys) - dur, 0.0)))
    times = start + np.arange(num_frames) / fps
    yaw = rng.uniform(-np.pi, np.pi)
    pose = render_keys(keys, times, yaw)
    heading = np.array([np.sin(yaw), 0.0, np.cos(yaw)])
    return pose, _translation(pose, times, heading, keys[0].extra.get("speed", 0.0)), act
