"""Build the CMU motion library (training/synthetic/assets/cmu_motion.npz) from the BVH files.

Reads every ``NN_MM.bvh`` of ``--source`` (default ``../shared/motion/cmu``), retargets it onto the
embedded open body (mean shape; :mod:`training.synthetic.retarget`), and writes

* the library file and its ``CMU_MOTION_NOTICE.md`` (CMU's terms and acknowledgement, verbatim from
  the source folder's SOURCES.md);
* ``docs/motion/retarget.md``: the per-clip retargeting error table;
* ``docs/motion/coverage.md``: pose coverage of the procedural and keyframed motions, the library and
  the generator's mix of them;
* ``docs/motion/retarget_<clip>.png``: CMU skeleton vs posed body joints for a few clips.

    python tools/build_motion_library.py                 # everything
    python tools/build_motion_library.py --no-figures --clips 02_03 09_01   # a quick partial run
    python tools/build_motion_library.py --coverage-only   # only the coverage table, from the library file
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.body import SMPL_JOINTS, SMPL_PARENTS, BodyModel  # noqa: E402
from training.bvh import forward_kinematics, read_bvh  # noqa: E402
from training.synthetic.motion_coverage import COVERAGE_LABELS, facing_away_share, pose_flags  # noqa: E402
from training.synthetic.motion_library import MOTION_LIBRARY_PATH  # noqa: E402
from training.synthetic.retarget import (  # noqa: E402
    MAJOR_JOINTS, aligned_joint_error, body_joints, cmu_points, cmu_skeleton_rest, rest_joints, retarget_cmu, retarget_error,
)

#: Subjects per split (CMU subject numbers). Each split mixes kinds of motion:
#: train = playground climbing/sitting/hanging (01), uneven-terrain walks (03), modern dance (05),
#: runs and walking forward/backward/sideways (09); val = basketball dribbling (06) + walks (07);
#: test = assorted behaviours (02: walk, run, jump, punch, bend over, swordplay, wash) + walks (08).
SPLIT_SUBJECTS = {"train": [1, 3, 5, 9], "val": [6, 7], "test": [2, 8]}
FIGURE_CLIPS = ("02_06", "05_06", "01_08", "09_01")
STEP = 4  # 120 → 30 fps


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


def draw_figure(path: Path, name: str, body_pts: np.ndarray, cmu_pts: np.ndarray, rest: np.ndarray, pose: np.ndarray) -> None:
    """Front (x-y) and side (z-y) views of a few frames: CMU points (scaled, hips-centred) vs the posed
    body's 24 joints and bones."""
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
    fig.suptitle(f"{name}: CMU skeleton (red, scaled, hips-centred) vs retargeted body joints (blue, mean shape)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


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
    lib = np.load(args.out)
    pose = lib["pose"].astype(np.float64).reshape(-1, 24, 3)
    joints = body_joints(rest_joints(BodyModel.open()), pose, lib["transl"].astype(np.float64))
    args.docs.mkdir(parents=True, exist_ok=True)
    write_coverage(args, joints, pose[:, 0], list(zip(lib["clip_starts"], lib["clip_lengths"])))
    return 0


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
    rest = rest_joints(body)
    poses, transls, rows = [], [], []
    lib_joints = []
    for path in tqdm(files, desc="retarget", unit="clip"):
        skel, motion = read_bvh(path)
        rot, pos = forward_kinematics(skel, motion)
        res = retarget_cmu(skel, rot, pos, motion.fps, rest, STEP)
        err = retarget_error(res, rest)
        body_pts = body_joints(rest, res.pose)
        lib_joints.append(body_pts + res.transl[:, None])
        major = [SMPL_JOINTS.index(n) for n in MAJOR_JOINTS]
        floor = aligned_joint_error(rest[None, major], cmu_points(skel, pos[:1]) * res.scale).mean()
        own_rest = cmu_skeleton_rest(skel, pos[0], res.scale)
        own = retarget_error(retarget_cmu(skel, rot, pos, motion.fps, own_rest, STEP), own_rest)
        subject = int(path.stem[:2])
        rows.append({
            "clip": path.stem, "subject": subject, "split": split_of(subject), "frames": len(res.pose),
            "mean": err["mean"], "max_frame": err["max_frame"], "tpose": float(floor), "own": own["mean"],
            "own_neck_head": 0.5 * (own["neck"] + own["head"]), "scale": res.scale,
            "per_joint": {n: err[n] for n in MAJOR_JOINTS},
        })
        poses.append(res.pose)
        transls.append(res.transl)
        if not args.no_figures and path.stem in FIGURE_CLIPS:
            draw_figure(args.docs / f"retarget_{path.stem}.png", path.stem, body_pts[:, [SMPL_JOINTS.index(n) for n in MAJOR_JOINTS]],
                        res.cmu_points, rest, res.pose)

    lengths = np.array([len(p) for p in poses])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
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
        split_subjects=json.dumps(SPLIT_SUBJECTS),
        acknowledgement=acknowledgement,
        terms=terms,
        source=("CMU Graphics Lab Motion Capture Database (mocap.cs.cmu.edu), subjects 01-09, B. Hahne's cgspeed "
                "MotionBuilder-friendly BVH conversion; retargeted onto the project's open body (24 SMPL joints) "
                "by tools/build_motion_library.py; 120 fps decimated to 30 fps; the added T-pose frame 0 dropped."),
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

    # -- retarget table --------------------------------------------------------------------------
    cm = lambda v: f"{100 * v:.1f}"  # noqa: E731
    means = np.array([r["mean"] for r in rows])
    own = np.array([r["own"] for r in rows])
    tpose = np.array([r["tpose"] for r in rows])
    lines = [
        "# CMU → body retargeting error",
        "",
        "Written by `tools/build_motion_library.py`. Per clip (30 fps frames), in cm, over the 15 major joints",
        f"({', '.join(MAJOR_JOINTS)}): both skeletons centred per frame on their hips' mid-point, the CMU",
        "points scaled by the one least-squares factor per clip. CMU reference points: the UpLeg/Leg/Foot,",
        "Arm/ForeArm/Hand, Neck1 and Head joints; CMU pelvis = the mid-point of the UpLegs.",
        "",
        "* **body (mean shape)**: the retargeted poses on the open body, mean shape — what the library holds.",
        "  Most of it is the difference between the two skeletons' proportions and joint placement, not pose:",
        "* **T-pose**: the same error between the body's rest pose and the clip's T-pose frame 0 (no motion at",
        "  all): the floor that a pure rotation retarget onto the mean-shape body cannot go below.",
        "* **own skeleton**: the same retargeting onto a body skeleton whose rest joints sit on the subject's",
        "  own CMU T-pose — the check of the method itself (axes, Euler order, T-pose deltas, global → local,",
        "  the body's kinematic chain); what remains is the CMU Neck and Neck1 rotations that the 24-joint",
        "  tree folds (neck/head column).",
        "",
        f"Summary over {len(rows)} clips: body (mean shape) mean {cm(means.mean())}, max {cm(means.max())}; "
        f"T-pose floor mean {cm(tpose.mean())}; own skeleton mean {cm(own.mean())}, max {cm(own.max())}.",
        "",
        "Per joint, mean over clips (body, mean shape): "
        + ", ".join(f"{n} {cm(np.mean([r['per_joint'][n] for r in rows]))}" for n in MAJOR_JOINTS) + ".",
        "",
        "| clip | subject | split | frames | body (mean shape) | worst frame | T-pose | own skeleton | own: neck/head | scale m/unit |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['clip']} | {r['subject']:02d} | {r['split']} | {r['frames']} | {cm(r['mean'])} | {cm(r['max_frame'])} | "
            f"{cm(r['tpose'])} | {cm(r['own'])} | {cm(r['own_neck_head'])} | {r['scale']:.4f} |"
        )
    (args.docs / "retarget.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[14:]))

    # -- coverage ------------------------------------------------------------------------------
    all_pose = np.concatenate(poses)
    write_coverage(args, np.concatenate(lib_joints), all_pose[:, 0], list(zip(starts, lengths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
