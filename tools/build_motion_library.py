"""Build the CMU motion library (training/synthetic/assets/cmu_motion.npz) from the BVH files.

Reads every ``NN_MM.bvh`` of ``--source`` (default ``../shared/motion/cmu``), fits the embedded open
body's shape (10 betas, within the generator's own range) to each subject's T-pose, retargets every clip
onto its subject's shape (:mod:`training.synthetic.retarget`), and writes

* the library file and its ``CMU_MOTION_NOTICE.md`` (CMU's terms and acknowledgement, verbatim from
  the source folder's SOURCES.md);
* ``docs/motion/retarget.md``: the retargeting error per clip and joint (subject shape, mean shape, the
  subject's own skeleton), the fitted shapes, and why the body cannot follow the CMU proportions closer;
* ``docs/motion/coverage.md``: pose coverage of the procedural and keyframed motions, the library and
  the generator's mix of them;
* ``docs/motion/retarget_<clip>.png``: CMU skeleton vs posed body joints (subject shape) for a few clips.

    python tools/build_motion_library.py                 # everything
    python tools/build_motion_library.py --no-figures --clips 02_03 09_01   # a quick partial run
    python tools/build_motion_library.py --coverage-only   # only the coverage table, from the library file
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]

from training.body import SMPL_JOINTS, SMPL_PARENTS, BodyModel
from training.bvh import forward_kinematics, read_bvh
from training.synthetic.motion_coverage import COVERAGE_LABELS, facing_away_share, pose_flags
from training.synthetic.motion_library import MOTION_LIBRARY_PATH, load_motion_library
from training.synthetic.retarget import (
    MAJOR_JOINTS, SUBJECT_BETA_CLIP, SUBJECT_BETA_NORM, aligned_tpose_joints, body_joints, cmu_points, cmu_skeleton_rest,
    fit_subject_betas, joint_shape_basis, rest_joints, retarget_cmu, retarget_error, tpose_error,
)

#: Subjects per split (CMU subject numbers). Each split mixes kinds of motion:
#: train = playground climbing/sitting/hanging (01), uneven-terrain walks (03), modern dance (05),
#: runs and walking forward/backward/sideways (09); val = basketball dribbling (06) + walks (07);
#: test = assorted behaviours (02: walk, run, jump, punch, bend over, swordplay, wash) + walks (08).
SPLIT_SUBJECTS = {"train": [1, 3, 5, 9], "val": [6, 7], "test": [2, 8]}
FIGURE_CLIPS = ("02_06", "05_06", "01_08", "09_01")
STEP = 4  # 120 → 30 fps
NUM_BETAS = 10  # the models' and the generator's shape size
#: ‖β‖ bounds of the trade-off table (None: unbounded), fitted beside the stored, plausible fit.
TRADEOFF_NORMS: tuple[Optional[float], ...] = (8.0, 16.0, None)
#: CMU joints that could stand for a body joint (the first is the one used), for the correspondence check.
CORRESPONDENCE_CANDIDATES = {
    "pelvis": ("LeftUpLeg+RightUpLeg", "Hips"),
    "left_hip": ("LeftUpLeg", "LHipJoint"),
    "neck": ("Neck1", "Neck", "Head"),
    "head": ("Head", "Neck1"),
    "left_shoulder": ("LeftArm", "LeftShoulder"),
}


def cmu_texts(sources_md: Path) -> tuple[str, str]:
    """(terms section verbatim, acknowledgement sentence) from the source folder's SOURCES.md."""
    text = sources_md.read_text()
    m = re.search(r"^## Terms \(quoted\)\n(.*?)(?=^## )", text, re.S | re.M)
    if not m:
        raise SystemExit(f"{sources_md}: no '## Terms (quoted)' section")
    terms = m.group(1).strip()
    ack = re.search(r'"(The data used in this project.*?EIA-0196217\.)"', terms, re.S)
    if not ack:
        raise SystemExit(f"{sources_md}: the CMU acknowledgement sentence is missing")
    acknowledgement = " ".join(line.strip(" >") for line in ack.group(1).splitlines())
    return terms, acknowledgement


def split_of(subject: int) -> str:
    return next(s for s, subs in SPLIT_SUBJECTS.items() if subject in subs)


def draw_figure(path: Path, name: str, body_pts: np.ndarray, cmu_pts: np.ndarray, rest: np.ndarray, pose: np.ndarray,
                shape: str = "mean shape") -> None:
    """Front (x-y) and side (z-y) views of a few frames: CMU points (scaled, hips-centred) vs the posed
    body's 24 joints and bones (rest joints ``rest``, described by ``shape`` in the title)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = np.linspace(0, len(pose) - 1, 5).round().astype(int)
    joints = body_joints(rest, pose[frames])
    hips = [MAJOR_JOINTS.index("left_hip"), MAJOR_JOINTS.index("right_hip")]
    centre_b = body_pts[frames][:, hips].mean(1, keepdims=True)
    cmu = cmu_pts[frames]
    cmu = cmu - cmu[:, hips].mean(1, keepdims=True)
    s = float((joints[:, [SMPL_JOINTS.index(n) for n in MAJOR_JOINTS]] - centre_b).ravel() @ cmu.ravel() / (cmu.ravel() @ cmu.ravel()))
    cmu_bones = [("pelvis", "left_hip"), ("pelvis", "right_hip"), ("pelvis", "neck"), ("neck", "head")] + [
        (f"{s_}_{a}", f"{s_}_{b}") for s_ in ("left", "right")
        for a, b in (("hip", "knee"), ("knee", "ankle"), ("shoulder", "elbow"), ("elbow", "wrist"))
    ] + [("neck", "left_shoulder"), ("neck", "right_shoulder")]
    fig, axes = plt.subplots(2, len(frames), figsize=(3.2 * len(frames), 7))
    for c, f in enumerate(frames):
        bj = joints[c] - centre_b[c]
        for r, (hx, label) in enumerate(((0, "front (x, y)"), (2, "side (z, y)"))):
            ax = axes[r, c]
            for k, p in enumerate(SMPL_PARENTS[1:], start=1):
                ax.plot([bj[p, hx], bj[k, hx]], [bj[p, 1], bj[k, 1]], "-", color="tab:blue", lw=3, alpha=0.6)
            for a, b in cmu_bones:
                i, j = MAJOR_JOINTS.index(a), MAJOR_JOINTS.index(b)
                ax.plot([s * cmu[c, i, hx], s * cmu[c, j, hx]], [s * cmu[c, i, 1], s * cmu[c, j, 1]], "-", color="tab:red", lw=1.2)
            ax.plot(s * cmu[c, :, hx], s * cmu[c, :, 1], "o", color="tab:red", ms=3)
            ax.set_aspect("equal")
            ax.set_xlim(-1.1, 1.1)
            ax.set_ylim(-1.2, 1.0)
            ax.set_title(f"{name} frame {f} (30 fps)\n{label}", fontsize=8)
            ax.tick_params(labelsize=6)
    fig.suptitle(f"{name}: CMU skeleton (red, scaled, hips-centred) vs retargeted body joints (blue, {shape})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


# -- the subjects' shapes --------------------------------------------------------------------------
class ShapeFit(NamedTuple):
    betas: np.ndarray  # (NUM_BETAS,)
    rest: np.ndarray  # (24, 3) rest joints
    height: float  # rest mesh height, m
    flipped: float  # share of the mesh's triangles turned over against the mean shape
    tpose: float  # mean tpose_error, m


def mesh_check(body: BodyModel, betas: np.ndarray) -> tuple[float, float]:
    """(height m, share of triangles whose normal turned over against the mean shape) of the rest mesh of β."""
    import torch

    from training.body.lbs import shape_blend

    with torch.no_grad():
        v0 = body.v_template.double().numpy()
        v = shape_blend(body.v_template, body.shapedirs, torch.as_tensor(betas, dtype=torch.float32)[None])[0].double().numpy()
    f = body.faces.numpy()
    normal = lambda x: np.cross(x[f[:, 1]] - x[f[:, 0]], x[f[:, 2]] - x[f[:, 0]])  # noqa: E731
    return float(np.ptp(v[:, 1])), float(((normal(v) * normal(v0)).sum(1) < 0).mean())


def fit_shape(body: BodyModel, basis, skel, pos0: np.ndarray, **bounds) -> ShapeFit:
    """:func:`fit_subject_betas` (``bounds``: beta_clip, max_norm) and what the fitted body is like."""
    betas = fit_subject_betas(skel, pos0, basis, **bounds).astype(np.float16).astype(np.float64)  # as stored
    rest = basis[0] + basis[1] @ betas
    height, flipped = mesh_check(body, betas)
    return ShapeFit(betas, rest, height, flipped, float(tpose_error(skel, pos0, rest).mean()))


def generator_flipped(body: BodyModel, seed: int, draws: int = 200) -> float:
    """The largest flipped-triangle share (:func:`mesh_check`) over ``draws`` of the generator's shapes."""
    rng = np.random.default_rng(seed)
    return max(mesh_check(body, np.clip(rng.standard_normal(NUM_BETAS), -SUBJECT_BETA_CLIP, SUBJECT_BETA_CLIP))[1] for _ in range(draws))


def proportions(rest: np.ndarray) -> dict[str, np.ndarray]:
    """Scale-free skeleton ratios of rest joints (..., 24, 3) (SMPL joint order)."""
    j = {n: i for i, n in enumerate(SMPL_JOINTS)}
    p = lambda n: rest[..., j[n], :]  # noqa: E731
    d = lambda a, b: np.linalg.norm(p(a) - p(b), axis=-1)  # noqa: E731
    hips = 0.5 * (p("left_hip") + p("right_hip"))
    leg = d("left_hip", "left_knee") + d("left_knee", "left_ankle")
    return {
        "hips → shoulders mid-point / leg": np.linalg.norm(0.5 * (p("left_shoulder") + p("right_shoulder")) - hips, axis=-1) / leg,
        "hips → neck / leg": np.linalg.norm(p("neck") - hips, axis=-1) / leg,
        "upper arm / forearm": d("left_shoulder", "left_elbow") / d("left_elbow", "left_wrist"),
        "thigh / shin": d("left_hip", "left_knee") / d("left_knee", "left_ankle"),
        "hip width / leg": d("left_hip", "right_hip") / leg,
        "shoulder width / leg": d("left_shoulder", "right_shoulder") / leg,
    }


def correspondence_check(skel, pos0: np.ndarray, rest: np.ndarray) -> dict[tuple[str, str], float]:
    """T-pose distance (m) of body joints to each CMU candidate (``CORRESPONDENCE_CANDIDATES``), the body
    aligned as :func:`tpose_error` aligns it (hips-centred, CMU points at its least-squares scale)."""
    major = [SMPL_JOINTS.index(n) for n in MAJOR_JOINTS]
    hips = [MAJOR_JOINTS.index("left_hip"), MAJOR_JOINTS.index("right_hip")]
    body = aligned_tpose_joints(skel, pos0, rest)
    body = body - body[major][hips].mean(0)
    cmu = cmu_points(skel, pos0[None])[0]
    centre = cmu[hips].mean(0)
    s = float((body[major] * (cmu - centre)).sum() / ((cmu - centre) ** 2).sum())
    out = {}
    for joint, names in CORRESPONDENCE_CANDIDATES.items():
        for name in names:
            point = pos0[[skel.index(n) for n in name.split("+")]].mean(0)
            out[joint, name] = float(np.linalg.norm(body[SMPL_JOINTS.index(joint)] - s * (point - centre)))
    return out


class SubjectReport(NamedTuple):
    fit: ShapeFit  # the stored fit (the generator's range)
    looser: list[ShapeFit]  # the trade-off fits, one per TRADEOFF_NORMS
    proportions: dict[str, float]  # of the subject's own CMU skeleton
    correspondence: dict[tuple[str, str], float]  # correspondence_check on the stored fit


def subject_report(body: BodyModel, basis, skel, pos0: np.ndarray) -> SubjectReport:
    """Fit the subject's shape (stored fit and trade-off fits) and measure its skeleton."""
    fit = fit_shape(body, basis, skel, pos0)
    looser = [fit_shape(body, basis, skel, pos0, beta_clip=np.inf, max_norm=n or np.inf) for n in TRADEOFF_NORMS]
    own = {k: float(v) for k, v in proportions(cmu_skeleton_rest(skel, pos0, 1.0)).items()}
    return SubjectReport(fit, looser, own, correspondence_check(skel, pos0, fit.rest))


def write_retarget_doc(path: Path, rows: list[dict], fits: dict[int, SubjectReport], body: BodyModel, seed: int = 0) -> None:
    """docs/motion/retarget.md from the per-clip rows and the subjects' fits."""
    cm = lambda v: f"{100 * v:.1f}"  # noqa: E731
    col = lambda key: np.array([r[key] for r in rows])  # noqa: E731
    joint_mean = lambda key, n: float(np.mean([r[key][n] for r in rows]))  # noqa: E731
    subjects = sorted(fits)
    over = [n for n in MAJOR_JOINTS if joint_mean("per_joint", n) > 0.03]
    lines = [
        "# CMU → body retargeting error",
        "",
        "Written by `tools/build_motion_library.py`. Per clip (30 fps frames), in cm, over the 15 major joints",
        f"({', '.join(MAJOR_JOINTS)}): both skeletons centred per frame on their hips' mid-point, the CMU",
        "points scaled by the one least-squares factor per clip. CMU reference points: the UpLeg/Leg/Foot,",
        "Arm/ForeArm/Hand, Neck1 and Head joints; CMU pelvis = the mid-point of the UpLegs.",
        "",
        "* **body (subject shape)**: the retargeted poses on the open body with the subject's fitted shape — what",
        f"  the library holds (`subject_betas`). The shape: {NUM_BETAS} betas fitted to the subject's T-pose",
        "  (`training/synthetic/retarget.py::fit_subject_betas`: least squares of the T-pose error below), bounded to",
        f"  the generator's own shapes: |β_i| ≤ {SUBJECT_BETA_CLIP} (`SyntheticConfig.beta_clip`) and ‖β‖ ≤ {SUBJECT_BETA_NORM} (the radius",
        "  that holds 99 % of its N(0, I) draws).",
        "* **T-pose**: the same error on the retargeted T-pose frame (the body's bones turned onto the CMU T-pose's",
        "  bone directions, no motion): the two skeletons' proportions and joint placement alone.",
        "* **body (mean shape)**, **mean T-pose**: the same with the body's mean shape (the library before the fit).",
        "* **own skeleton**: the same retargeting onto a body skeleton whose rest joints sit on the subject's",
        "  own CMU T-pose — the check of the method itself (axes, Euler order, T-pose deltas, global → local,",
        "  the body's kinematic chain); what remains is the CMU Neck and Neck1 rotations that the 24-joint",
        "  tree folds (neck/head column).",
        "",
        f"Summary over {len(rows)} clips: body (subject shape) mean {cm(col('mean').mean())}, max {cm(col('mean').max())} "
        f"(T-pose {cm(col('tpose').mean())}); body (mean shape) mean {cm(col('mean_shape').mean())}, max {cm(col('mean_shape').max())} "
        f"(T-pose {cm(col('mean_tpose').mean())}); own skeleton mean {cm(col('own').mean())}, max {cm(col('own').max())}. "
        f"Clips at ≤ 3 cm: {int((col('mean') <= 0.03).sum())} of {len(rows)} with the subject shape.",
        "",
        "## Per joint, mean over clips",
        "",
        "| joint | body (subject shape) | body (mean shape) | own skeleton |",
        "|---|---:|---:|---:|",
        *(f"| {n} | {cm(joint_mean('per_joint', n))} | {cm(joint_mean('per_joint_mean_shape', n))} | {cm(joint_mean('per_joint_own', n))} |"
          for n in MAJOR_JOINTS),
        f"| **mean** | **{cm(col('mean').mean())}** | **{cm(col('mean_shape').mean())}** | **{cm(col('own').mean())}** |",
        "",
        "## The fitted shapes",
        "",
        "Height: of the rest mesh; flipped: share of the mesh's triangles turned over against the mean shape",
        f"(at most {100 * generator_flipped(body, seed):.2f} % over 200 of the generator's own shapes).",
        "",
        "| subject | clips | β₁ … β₁₀ | ‖β‖ | height m | flipped % | T-pose | body (subject shape) |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for s in subjects:
        f, mine = fits[s].fit, col("mean")[col("subject") == s]
        lines.append(f"| {s:02d} | {len(mine)} | {' '.join(f'{b:+.2f}' for b in f.betas)} | {np.linalg.norm(f.betas):.2f} | "
                     f"{f.height:.2f} | {100 * f.flipped:.2f} | {cm(f.tpose)} | {cm(mine.mean())} |")
    betas = np.stack([fits[s].fit.betas for s in subjects])
    spread = float(np.linalg.norm(betas - betas.mean(0), axis=1).max())
    on_bound = int((np.linalg.norm(betas, axis=1) > SUBJECT_BETA_NORM - 0.01).sum())
    lines += [
        "",
        f"{on_bound} of the {len(subjects)} fits end on the ‖β‖ bound, and every fit lies within {spread:.1f} of their mean β",
        f"(against ‖β‖ ≤ {SUBJECT_BETA_NORM}): the fits mostly follow what every CMU skeleton has against the body (the",
        "proportions below), little of what sets one subject apart from another.",
    ]
    lines += why_not_3cm(rows, fits, body, over, seed)
    lines += [
        "",
        "## Per clip",
        "",
        "| clip | subject | split | frames | body (subject shape) | worst frame | T-pose | body (mean shape) | mean T-pose | own skeleton | own: neck/head | scale m/unit |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['clip']} | {r['subject']:02d} | {r['split']} | {r['frames']} | {cm(r['mean'])} | {cm(r['max_frame'])} | "
            f"{cm(r['tpose'])} | {cm(r['mean_shape'])} | {cm(r['mean_tpose'])} | {cm(r['own'])} | {cm(r['own_neck_head'])} | {r['scale']:.4f} |"
        )
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[19:40]))


def why_not_3cm(rows: list[dict], fits: dict[int, SubjectReport], body: BodyModel, over: list[str], seed: int) -> list[str]:
    """The doc's section on what keeps the subject-shape error above 3 cm: proportions, looser β bounds,
    joint correspondences."""
    cm = lambda v: f"{100 * v:.1f}"  # noqa: E731
    subjects = sorted(fits)
    mean, dirs = joint_shape_basis(body, NUM_BETAS)
    draws = np.clip(np.random.default_rng(seed).standard_normal((5000, NUM_BETAS)), -SUBJECT_BETA_CLIP, SUBJECT_BETA_CLIP)
    shapes = proportions(mean + np.einsum("kcs,ns->nkc", dirs, draws))
    at_mean = proportions(mean)
    fitted = proportions(np.stack([fits[s].fit.rest for s in subjects]))
    lines = [
        "",
        "## Why not ≤ 3 cm",
        "",
        f"Joints above 3 cm with the subject shape (mean over clips): {', '.join(over) or 'none'}. The method is exact on",
        "a skeleton with the subject's proportions (own skeleton); the body's shape space cannot take those proportions.",
        "",
        "**Proportions.** Scale-free ratios of the rest skeletons: the body (mean shape; the 0.5–99.5 % range over 5000",
        f"of the generator's shapes, N(0, I) clipped at ±{SUBJECT_BETA_CLIP}; the subjects' fitted shapes) against each CMU subject's own skeleton.",
        "",
        "| ratio | body, mean shape | body, generator's shapes | body, fitted (min–max) | " + " | ".join(f"CMU {s:02d}" for s in subjects) + " |",
        "|---|---:|---:|---:|" + "---:|" * len(subjects),
    ]
    for k in at_mean:
        lo, hi = np.percentile(shapes[k], [0.5, 99.5])
        lines.append(f"| {k} | {at_mean[k]:.2f} | {lo:.2f}–{hi:.2f} | {fitted[k].min():.2f}–{fitted[k].max():.2f} | "
                     + " | ".join(f"{fits[s].proportions[k]:.2f}" for s in subjects) + " |")
    bounds = [f"‖β‖ ≤ {n:g}" if n else "unbounded" for n in TRADEOFF_NORMS]
    lines += [
        "",
        "**Looser bounds.** The same fit without the per-β clip and with larger ‖β‖ bounds: error (mean over the",
        "subject's clips, cm) / rest mesh height (m) / share of flipped triangles (%). Past the stored bound the error",
        "falls only as the mesh stops being a body (shorter, its surface turning inside out).",
        "",
        f"| subject | stored (‖β‖ ≤ {SUBJECT_BETA_NORM}) | " + " | ".join(bounds) + " |",
        "|---:|---|" + "---|" * len(bounds),
    ]
    for s in subjects:
        mine = [r for r in rows if r["subject"] == s]
        cells = [f"{cm(np.mean([r['mean'] for r in mine]))} / {fits[s].fit.height:.2f} / {100 * fits[s].fit.flipped:.2f}"]
        for i, f in enumerate(fits[s].looser):
            err = np.mean([r["looser"][i] for r in mine])
            cells.append(f"{cm(err)} / {f.height:.2f} / {100 * f.flipped:.1f} (‖β‖ {np.linalg.norm(f.betas):.0f})")
        lines.append(f"| {s:02d} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "**Correspondences.** T-pose distance (cm, mean over subjects, subject shape) of a body joint to each CMU joint",
        "that could stand for it; the first is the one used. Distance only tells the counterpart where the proportions",
        "agree: the body's neck sits at the top of a torso that is long for the CMU legs (first table), so it lands",
        "nearer the CMU Head than its counterpart Neck1, the CMU joint just above the shoulder joints (CMU's Neck sits",
        "with Spine1 in the chest; the Head is the body head's own counterpart).",
        "",
        "| body joint | " + " | ".join(f"CMU candidate {i + 1}" for i in range(max(map(len, CORRESPONDENCE_CANDIDATES.values())))) + " |",
        "|---|" + "---|" * max(map(len, CORRESPONDENCE_CANDIDATES.values())),
    ]
    for joint, names in CORRESPONDENCE_CANDIDATES.items():
        cells = [f"{n}: {cm(np.mean([fits[s].correspondence[joint, n] for s in subjects]))}" for n in names]
        lines.append(f"| {joint} | " + " | ".join(cells) + " |")
    return lines


def coverage_rows(lib_joints: np.ndarray, lib_root: np.ndarray, lib_clip_bounds, num_procedural: int, seed: int,
                  num_keyframed: int = 1000) -> dict:
    """Coverage shares for the procedural motions (num_procedural 16-frame clips), the keyframed ones
    (num_keyframed clips), the library, and the generator's mix of the three (``SyntheticConfig`` shares)."""
    from training.synthetic.generator import SyntheticConfig
    from training.synthetic.keyframed import keyframed_motion
    from training.synthetic.motion import procedural_motion

    rng = np.random.default_rng(seed)
    body = BodyModel.open()
    rest = rest_joints(body)
    poses = [procedural_motion(rng, 16, 30.0)[0].reshape(16, 24, 3) for _ in range(num_procedural)]
    proc_pose = np.concatenate(poses)
    proc_joints = body_joints(rest, proc_pose)
    kf = [keyframed_motion(rng, 16, 30.0) for _ in range(num_keyframed)]
    kf_pose = np.concatenate([k[0] for k in kf]).reshape(-1, 24, 3)
    kf_joints = body_joints(rest, kf_pose, np.concatenate([k[1] for k in kf]))
    out = {}
    for label, joints, root, windows in (
        ("procedural", proc_joints, proc_pose[:, 0], [p[:, 0] for p in poses]),
        ("keyframed", kf_joints, kf_pose[:, 0], [k[0].reshape(16, 24, 3)[:, 0] for k in kf]),
        ("cmu", lib_joints, lib_root, [lib_root[s : s + 16] for a, n in lib_clip_bounds for s in range(a, a + n - 15, 8)]),
    ):
        flags = pose_flags(joints, root)
        row = {k: float(v.mean()) for k, v in flags.items()}
        row["facing_away"], row["turn_45_in_16"] = facing_away_share(windows, np.random.default_rng(seed))
        row["frames"] = int(len(joints))
        out[label] = row
    cfg = SyntheticConfig()
    w = {"cmu": 1 - cfg.p_procedural, "procedural": cfg.p_procedural * (1 - cfg.p_keyframed), "keyframed": cfg.p_procedural * cfg.p_keyframed}
    out["mix"] = {k: sum(w[m] * out[m][k] for m in w) for k in out["cmu"] if k != "frames"}
    out["mix"]["frames"] = 0
    out["weights"] = w
    return out


def write_coverage(args, lib_joints: np.ndarray, lib_root: np.ndarray, bounds) -> None:
    """docs/motion/coverage.md from the library's joints (N, 24, 3), root axis-angle (N, 3) and clip
    bounds [(start, length)]."""
    # -- coverage ------------------------------------------------------------------------------
    cov = coverage_rows(lib_joints, lib_root, bounds, args.procedural_clips, args.seed)
    w = cov["weights"]
    cov_lines = [
        "# Pose coverage: procedural and keyframed motions, the CMU library, the generator's mix",
        "",
        "Written by `tools/build_motion_library.py`. Share of frames (%). Procedural: "
        f"{args.procedural_clips} clips of 16 frames at 30 fps from `training/synthetic/motion.py` "
        f"(`procedural_motion`, seed {args.seed}); CMU: every frame of the library ({len(lib_root)} frames, "
        "not mirrored — mirroring changes none of these shares). Facing away: the generator places its camera "
        "relative to the person's facing in a clip's first frame (`SyntheticConfig.p_front` = 0.65 within ±60°, "
        "else any azimuth); the share is simulated with that rule over 16-frame windows (CMU: every 8th frame).",
        "",
        "Keyframed: 1000 clips of 16 frames from `training/synthetic/keyframed.py` (`keyframed_motion`, same rng). "
        "Generator mix: the library, procedural and keyframed columns weighted by `SyntheticConfig`'s shares "
        f"(CMU {w['cmu']:.2f}, procedural {w['procedural']:.2f}, keyframed {w['keyframed']:.2f}: "
        "`1 − p_procedural`, `p_procedural·(1 − p_keyframed)`, `p_procedural·p_keyframed`).",
        "",
        "| statistic | procedural | keyframed | CMU library | generator mix |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in COVERAGE_LABELS.items():
        cov_lines.append(f"| {label} | {100 * cov['procedural'][key]:.1f} | {100 * cov['keyframed'][key]:.1f} | "
                         f"{100 * cov['cmu'][key]:.1f} | {100 * cov['mix'][key]:.1f} |")
    cov_lines.append(f"| frames | {cov['procedural']['frames']} | {cov['keyframed']['frames']} | {cov['cmu']['frames']} | |")
    (args.docs / "coverage.md").write_text("\n".join(cov_lines) + "\n")
    print("\n".join(cov_lines[6:]))


def coverage_only(args) -> int:
    """Recompute docs/motion/coverage.md from the existing library file (no BVH, no retargeting)."""
    import torch

    lib = load_motion_library(args.out)
    body = BodyModel.open()
    clips = lib.clips()
    joints = [body_joints(rest_joints(body, None if c.betas is None else torch.as_tensor(c.betas)), c.pose, c.transl) for c in clips]
    args.docs.mkdir(parents=True, exist_ok=True)
    write_coverage(args, np.concatenate(joints), lib.pose[:, 0].astype(np.float64), list(zip(lib.clip_starts, lib.clip_lengths)))
    return 0


def retarget_clip(path: Path, body: BodyModel, basis, fits: dict[int, "SubjectReport"], mean_rest: np.ndarray):
    """Retarget one BVH file onto its subject's shape (fitted on first sight, into ``fits``) → (result,
    subject rest joints, table row)."""
    skel, motion = read_bvh(path)
    rot, pos = forward_kinematics(skel, motion)
    subject = int(path.stem[:2])
    if subject not in fits:  # every clip of a subject has the same skeleton and T-pose frame
        fits[subject] = subject_report(body, basis, skel, pos[0])
    fit, looser = fits[subject].fit, fits[subject].looser
    res = retarget_cmu(skel, rot, pos, motion.fps, fit.rest, STEP)
    err = retarget_error(res, fit.rest)
    mean_res = retarget_cmu(skel, rot, pos, motion.fps, mean_rest, STEP)
    mean = retarget_error(mean_res, mean_rest)
    own_rest = cmu_skeleton_rest(skel, pos[0], mean_res.scale)
    own = retarget_error(retarget_cmu(skel, rot, pos, motion.fps, own_rest, STEP), own_rest)
    row = {
        "clip": path.stem, "subject": subject, "split": split_of(subject), "frames": len(res.pose),
        "mean": err["mean"], "max_frame": err["max_frame"], "tpose": fit.tpose, "mean_shape": mean["mean"],
        "mean_tpose": float(tpose_error(skel, pos[0], mean_rest).mean()), "own": own["mean"],
        "own_neck_head": 0.5 * (own["neck"] + own["head"]), "scale": res.scale,
        "per_joint": {n: err[n] for n in MAJOR_JOINTS}, "per_joint_mean_shape": {n: mean[n] for n in MAJOR_JOINTS},
        "per_joint_own": {n: own[n] for n in MAJOR_JOINTS},
        "looser": [retarget_error(retarget_cmu(skel, rot, pos, motion.fps, f.rest, STEP), f.rest)["mean"] for f in looser],
    }
    return res, fit.rest, row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "motion" / "cmu")
    ap.add_argument("--out", type=Path, default=MOTION_LIBRARY_PATH)
    ap.add_argument("--docs", type=Path, default=ROOT / "docs" / "motion")
    ap.add_argument("--clips", nargs="*", help="only these clips (e.g. 02_03); default: all")
    ap.add_argument("--no-figures", action="store_true")
    ap.add_argument("--procedural-clips", type=int, default=3000, help="16-frame procedural clips for the coverage table")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--coverage-only", action="store_true", help="only rewrite docs/motion/coverage.md from the existing library")
    args = ap.parse_args(argv)
    from training.paths import writable_or_exit

    writable_or_exit("build_motion_library", args.out, file=True)  # before any work: a path that cannot be written fails now, in one line
    if args.coverage_only:
        return coverage_only(args)

    files = sorted(args.source.glob("[0-9][0-9]_[0-9][0-9].bvh"))
    if args.clips:
        files = [f for f in files if f.stem in args.clips]
    if not files:
        raise SystemExit(f"no CMU BVH files in {args.source}")
    terms, acknowledgement = cmu_texts(args.source / "SOURCES.md")
    args.docs.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)

    body = BodyModel.open()
    mean_rest = rest_joints(body)
    basis = joint_shape_basis(body, NUM_BETAS)
    fits: dict[int, SubjectReport] = {}
    poses, transls, rows, lib_joints = [], [], [], []
    for path in tqdm(files, desc="retarget", unit="clip"):
        res, rest, row = retarget_clip(path, body, basis, fits, mean_rest)
        body_pts = body_joints(rest, res.pose)
        lib_joints.append(body_pts + res.transl[:, None])
        rows.append(row)
        poses.append(res.pose)
        transls.append(res.transl)
        if not args.no_figures and path.stem in FIGURE_CLIPS:
            draw_figure(args.docs / f"retarget_{path.stem}.png", path.stem, body_pts[:, [SMPL_JOINTS.index(n) for n in MAJOR_JOINTS]],
                        res.cmu_points, rest, res.pose, f"subject {row['subject']:02d}'s fitted shape, {100 * row['mean']:.1f} cm")

    lengths = np.array([len(p) for p in poses])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    subjects = sorted(fits)
    np.savez_compressed(
        args.out,
        pose=np.concatenate(poses).astype(np.float16),
        transl=np.concatenate(transls).astype(np.float32),
        fps=np.float32(30.0),
        joint_names=np.array(SMPL_JOINTS),
        clip_names=np.array([r["clip"] for r in rows]),
        clip_subjects=np.array([r["subject"] for r in rows], np.int16),
        clip_splits=np.array([r["split"] for r in rows]),
        clip_starts=starts.astype(np.int64),
        clip_lengths=lengths.astype(np.int64),
        retarget_error_m=np.array([r["mean"] for r in rows], np.float32),
        retarget_error_mean_shape_m=np.array([r["mean_shape"] for r in rows], np.float32),
        subject_ids=np.array(subjects, np.int16),
        subject_betas=np.stack([fits[s].fit.betas for s in subjects]).astype(np.float16),
        split_subjects=json.dumps(SPLIT_SUBJECTS),
        acknowledgement=acknowledgement,
        terms=terms,
        source=("CMU Graphics Lab Motion Capture Database (mocap.cs.cmu.edu), subjects 01-09, B. Hahne's cgspeed "
                "MotionBuilder-friendly BVH conversion; retargeted onto the project's open body (24 SMPL joints) with "
                "each subject's fitted shape (subject_betas) by tools/build_motion_library.py; 120 fps decimated to "
                "30 fps; the added T-pose frame 0 dropped."),
    )
    (args.out.parent / "CMU_MOTION_NOTICE.md").write_text(
        f"# {args.out.name}: CMU motion capture data\n\n"
        f"`{args.out.name}` is made from the CMU Graphics Lab Motion Capture Database (subjects 01–09, the cgspeed\n"
        "MotionBuilder-friendly BVH conversion by B. Hahne), retargeted onto this project's open body by\n"
        "`tools/build_motion_library.py`. It is used to train and test the project's models; it is not a\n"
        "product and must not be sold or redistributed as one, not even converted.\n\n"
        "Acknowledgement (to be carried in the credits of anything made with this file):\n\n"
        f"> {acknowledgement}\n\n"
        "## Terms (quoted verbatim from `shared/motion/cmu/SOURCES.md`)\n\n"
        f"{terms}\n"
    )
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, {lengths.sum()} frames, {len(rows)} clips)")

    write_retarget_doc(args.docs / "retarget.md", rows, fits, body)

    # -- coverage ------------------------------------------------------------------------------
    all_pose = np.concatenate(poses)
    write_coverage(args, np.concatenate(lib_joints), all_pose[:, 0], list(zip(starts, lengths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
