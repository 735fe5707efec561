"""Headless OpenGL rasteriser (Mesa EGL through ``moderngl``) for the synthetic video generator.

One draw of a scene gives, per pixel of the square crop (row 0 = top, column 0 = left):

* ``rgb``  (S, S, 3) uint8: Lambert + ambient shading of per-vertex colours / procedural patterns /
  textures, with interpolated vertex normals;
* ``depth`` (S, S) float32: camera-space depth Z (metres) of the visible surface, 0 where empty;
* ``obj``  (S, S) int32: object id of the visible surface (0 = nothing drawn);
* ``face`` (S, S) int32: global face id + 1 of the visible triangle (0 = nothing);
* ``prev`` (S, S, 2) float32: where the surface point seen at the pixel centre was in the previous
  frame, in normalised crop coordinates of the previous crop.

**Exact flow.** Every mesh carries, per vertex, its camera-space position in the current frame
(``pos``) and in the previous frame (``prev``). The GPU interpolates ``prev`` with perspective-correct
barycentrics, i.e. with the barycentric coordinates of the surface point visible at the pixel centre
on the visible face; the fragment shader projects it with the previous frame's crop projection. This
is exactly "same face, same barycentrics, previous vertices, previous camera/crop", evaluated in
float32. ``flow = pixel(prev) − pixel``.

**Projection.** Camera frame as OpenCV (x right, y down, z forward). A crop projection is four
numbers ``(ax, bx, ay, by)``: ``x_n = ax·X/Z + bx``, ``y_n = ay·Y/Z + by`` in normalised crop
coordinates (``grid_sample(align_corners=False)``: pixel centre ``p = (x_n + 1)/2·S − 0.5``). GL's
NDC uses the same convention, so ``gl_Position = (x_n·Z, y_n·Z, ·, Z)``; as GL rows count from the
bottom and we put y_n (down) in NDC y, the read-back buffer already has image row 0 first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

__all__ = ["MeshDraw", "RenderOutput", "Lighting", "GLRenderer", "gl_available"]

_VERT = """
#version 330
uniform vec4 proj;
uniform vec2 depth_range;
in vec3 in_pos;
in vec3 in_prev;
in vec3 in_normal;
in vec3 in_pat;
in float in_region;
in vec2 in_uv;
out vec3 v_prev;
out vec3 v_normal;
out vec3 v_pat;
flat out int v_region;
out vec2 v_uv;
void main() {
    float z = in_pos.z;
    float n = depth_range.x;
    float f = depth_range.y;
    float xn = proj.x * in_pos.x / z + proj.y;
    float yn = proj.z * in_pos.y / z + proj.w;
    gl_Position = vec4(xn * z, yn * z, (f + n) / (f - n) * z - 2.0 * f * n / (f - n), z);
    v_prev = in_prev; v_normal = in_normal; v_pat = in_pat; v_region = int(in_region + 0.5); v_uv = in_uv;
}
"""

# Palette entry r: colours pal_c1[r], pal_c2[r] and style pal_style[r] = (pattern kind, frequency
# (cycles per metre of the pattern coordinate), angle (radians), softness). Kinds: 0 solid,
# 1 stripes, 2 checker, 3 blotches, 4 dots.
_FRAG = """
#version 330
uniform vec4 proj;
uniform vec4 proj_prev;
uniform vec2 viewport;
uniform vec3 light_dir;
uniform vec3 light_col;
uniform float ambient;
uniform float diffuse;
uniform int use_tex;
uniform sampler2D tex;
uniform float obj_id;
uniform int face_base;
uniform vec3 pal_c1[MAXPAL];
uniform vec3 pal_c2[MAXPAL];
uniform vec4 pal_style[MAXPAL];
in vec3 v_prev;
in vec3 v_normal;
in vec3 v_pat;
flat in int v_region;
in vec2 v_uv;
layout(location = 0) out vec4 out_color;
layout(location = 1) out vec4 out_geo;
layout(location = 2) out int out_face;

float pattern(vec3 p, vec4 st) {
    int kind = int(st.x + 0.5);
    float fr = st.y;
    float ca = cos(st.z), sa = sin(st.z);
    vec2 q = vec2(ca * p.x - sa * p.y, sa * p.x + ca * p.y);
    float soft = st.w;
    if (kind == 1) {
        return smoothstep(-soft, soft, sin(6.2831853 * fr * q.y));
    } else if (kind == 2) {
        float s = sin(6.2831853 * fr * q.x) * sin(6.2831853 * fr * q.y) * sin(6.2831853 * fr * p.z + 0.7);
        return smoothstep(-soft * 0.3, soft * 0.3, s);
    } else if (kind == 3) {
        float s = sin(fr * 6.2831853 * q.x + 1.3 * sin(fr * 4.1 * q.y))
                + sin(fr * 5.3 * q.y + 1.7 * sin(fr * 3.3 * p.z))
                + sin(fr * 4.7 * p.z + 1.1 * sin(fr * 5.9 * q.x));
        return smoothstep(-soft - 0.4, soft - 0.4, s);
    } else if (kind == 4) {
        vec3 c = fract(p * fr) - 0.5;
        return 1.0 - smoothstep(0.22 - soft * 0.1, 0.26 + soft * 0.1, length(c));
    }
    return 0.0;
}

void main() {
    vec3 base;
    if (use_tex == 1) {
        base = texture(tex, v_uv).rgb * pal_c1[v_region];
    } else {
        base = mix(pal_c1[v_region], pal_c2[v_region], pattern(v_pat, pal_style[v_region]));
    }
    // viewing ray through this pixel (camera frame), for two-sided lighting
    vec2 ndc = gl_FragCoord.xy / viewport * 2.0 - 1.0;
    vec3 ray = vec3((ndc.x - proj.y) / proj.x, (ndc.y - proj.w) / proj.z, 1.0);
    vec3 nrm = normalize(v_normal);
    if (dot(nrm, ray) > 0.0) nrm = -nrm;
    float lam = max(dot(nrm, light_dir), 0.0);
    out_color = vec4(clamp(base * light_col * (ambient + diffuse * lam), 0.0, 1.0), 1.0);
    float pz = v_prev.z;
    out_geo = vec4(proj_prev.x * v_prev.x / pz + proj_prev.y, proj_prev.z * v_prev.y / pz + proj_prev.w,
                   1.0 / gl_FragCoord.w, obj_id);
    out_face = gl_PrimitiveID + face_base;
}
"""
MAX_PALETTE = 16


@dataclass
class MeshDraw:
    """One mesh of a scene in the current frame. ``N`` vertices, ``F`` faces, ``R ≤ 16`` palette
    entries; camera frame, metres. Static arrays (``region``, ``pat``, ``uv``, palette, ``texture``)
    are uploaded once per ``key``.
    """

    pos: np.ndarray  # (N, 3) camera-space positions at frame t (Z > 0)
    prev: np.ndarray  # (N, 3) the same vertices at frame t-1, in frame t-1's camera space
    normal: np.ndarray  # (N, 3) vertex normals (any orientation; shading is two-sided)
    faces: np.ndarray  # (F, 3) int32
    obj_id: int  # > 0
    c1: np.ndarray  # (R, 3) palette colours in [0, 1]
    c2: Optional[np.ndarray] = None  # (R, 3) second pattern colours (default = c1)
    style: Optional[np.ndarray] = None  # (R, 4) pattern kind, frequency, angle, softness
    region: Optional[np.ndarray] = None  # (N,) palette index per vertex (default 0)
    pat: Optional[np.ndarray] = None  # (N, 3) pattern coordinates (e.g. rest-pose position)
    uv: Optional[np.ndarray] = None  # (N, 2) texture coordinates (with ``texture``)
    texture: Optional[np.ndarray] = None  # (H, W, 3) uint8, multiplied by c1[region]
    texture_repeat: bool = False
    cull: bool = False  # closed, consistently wound mesh: skip back faces (exact, faster)
    key: Optional[str] = None  # cache key of the static buffers/texture (same key = same static data)


@dataclass
class Lighting:
    direction: np.ndarray = field(default_factory=lambda: np.array([0.3, -0.5, -0.8]))  # towards the light, camera frame
    colour: np.ndarray = field(default_factory=lambda: np.ones(3))
    ambient: float = 0.45
    diffuse: float = 0.6


@dataclass
class RenderOutput:
    rgb: np.ndarray  # (S, S, 3) uint8
    depth: np.ndarray  # (S, S) float32, 0 = empty
    obj: np.ndarray  # (S, S) int32, 0 = empty
    face: np.ndarray  # (S, S) int32, global face id + 1, 0 = empty
    prev: np.ndarray  # (S, S, 2) float32 previous normalised crop coordinates


_PROCESS_RENDERED: dict[str, int] = {}  # pid of the process whose renderers made GL contexts


def gl_available() -> bool:
    """True when a headless EGL OpenGL 3.3 context can be created."""
    try:
        import importlib.util

        import moderngl

        if importlib.util.find_spec("triton") is not None:  # see GLRenderer._ensure
            import triton  # noqa: F401
        ctx = moderngl.create_standalone_context(backend="egl")
        ctx.release()
        return True
    except Exception:  # pragma: no cover - depends on the machine
        return False


class GLRenderer:
    """Renders :class:`MeshDraw` lists into a square crop of ``size`` pixels.

    The GL context is created lazily in the calling process (so a torch DataLoader worker makes its
    own after ``fork``). Static per-mesh buffers are cached by ``MeshDraw.key`` (call
    :meth:`reset_cache` between clips).
    """

    def __init__(self, size: int, near: float = 0.05, far: float = 200.0) -> None:
        self.size = int(size)
        self.near, self.far = near, far
        self._pid: Optional[int] = None
        self._static: dict[str, tuple] = {}

    # -- context -----------------------------------------------------------------------------------
    def _ensure(self) -> None:
        if self._pid == os.getpid():
            return
        if self._pid is not None or _PROCESS_RENDERED.get("pid") not in (None, os.getpid()):
            # Mesa's EGL/llvmpipe state does not survive fork(): a new context in the child hangs.
            raise RuntimeError(
                "this process was forked from one that had already rendered synthetic clips; Mesa EGL "
                "cannot render after fork. Use DataLoader(..., multiprocessing_context='spawn') or "
                "'forkserver', or do not draw samples in the parent before starting fork workers"
            )
        import importlib.util

        import moderngl

        # Mesa's llvmpipe and Triton (imported lazily by torch._dynamo, e.g. through torchvision.ops)
        # each bring an LLVM; Triton loaded *after* a GL context segfaults the process, loaded
        # before it both work. So load Triton first when it is installed.
        if importlib.util.find_spec("triton") is not None:
            try:
                import triton  # noqa: F401
            except Exception:  # pragma: no cover - a broken triton is not our concern here
                pass
        try:
            self.ctx = moderngl.create_standalone_context(backend="egl")
        except Exception as exc:  # pragma: no cover - depends on the machine
            raise RuntimeError(
                "synthetic rendering needs a headless OpenGL 3.3 context through EGL: install "
                "`moderngl` (pip) and Mesa's EGL (Debian: libegl1 libgl1 libegl-mesa0)"
            ) from exc
        ctx = self.ctx
        self.prog = ctx.program(vertex_shader=_VERT, fragment_shader=_FRAG.replace("MAXPAL", str(MAX_PALETTE)))
        s = self.size
        self.t_color = ctx.texture((s, s), 4, dtype="f1")
        self.t_geo = ctx.texture((s, s), 4, dtype="f4")
        self.t_face = ctx.texture((s, s), 1, dtype="i4")
        self.t_depth = ctx.depth_renderbuffer((s, s))
        self.fbo = ctx.framebuffer([self.t_color, self.t_geo, self.t_face], self.t_depth)
        self._white = ctx.texture((1, 1), 3, data=bytes([255, 255, 255]))
        self._static = {}
        self._pid = os.getpid()
        _PROCESS_RENDERED["pid"] = self._pid

    def __getstate__(self) -> dict:
        """Pickling (e.g. to ``spawn`` DataLoader workers) drops the GL state; it is rebuilt lazily."""
        return {"size": self.size, "near": self.near, "far": self.far, "_pid": None, "_static": {}}

    def reset_cache(self) -> None:
        if self._static and self._pid == os.getpid():
            with self.ctx:
                for entry in self._static.values():
                    for obj in entry:
                        if obj is not None and hasattr(obj, "release"):
                            obj.release()
        self._static = {}

    def _static_for(self, m: MeshDraw):
        key = m.key
        if key is not None and key in self._static:
            return self._static[key]
        n = m.pos.shape[0]
        region = np.zeros((n, 1), np.float32) if m.region is None else np.asarray(m.region, np.float32).reshape(n, 1)
        pat = np.zeros((n, 3), np.float32) if m.pat is None else np.asarray(m.pat, np.float32)
        uv = np.zeros((n, 2), np.float32) if m.uv is None else np.asarray(m.uv, np.float32)
        data = np.concatenate([pat, region, uv], axis=1).astype(np.float32)
        vbo = self.ctx.buffer(np.ascontiguousarray(data).tobytes())
        ibo = self.ctx.buffer(np.ascontiguousarray(m.faces, dtype=np.int32).tobytes())
        dyn = self.ctx.buffer(reserve=n * 9 * 4)
        vao = self.ctx.vertex_array(
            self.prog,
            [
                (dyn, "3f 3f 3f", "in_pos", "in_prev", "in_normal"),
                (vbo, "3f 1f 2f", "in_pat", "in_region", "in_uv"),
            ],
            index_buffer=ibo,
            index_element_size=4,
        )
        if m.texture is not None:
            import moderngl

            img = np.ascontiguousarray(m.texture, dtype=np.uint8)
            tex = self.ctx.texture((img.shape[1], img.shape[0]), 3, data=img.tobytes(), alignment=1)
            tex.build_mipmaps()
            tex.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
            tex.repeat_x = tex.repeat_y = bool(m.texture_repeat)
            tex.anisotropy = 8.0
        else:
            tex = None
        entry = (vbo, ibo, dyn, vao, tex)
        if key is not None:
            self._static[key] = entry
        return entry

    # -- drawing -----------------------------------------------------------------------------------
    def render(
        self,
        meshes: Sequence[MeshDraw],
        proj: Sequence[float],
        proj_prev: Sequence[float],
        light: Lighting,
        clear_colour: Sequence[float] = (0.0, 0.0, 0.0),
    ) -> RenderOutput:
        """Draw ``meshes`` with crop projection ``proj`` (this frame) and ``proj_prev`` (previous)."""
        self._ensure()
        with self.ctx:  # several renderers (contexts) may live in one process: make ours current
            return self._render(meshes, proj, proj_prev, light, clear_colour)

    def _render(self, meshes, proj, proj_prev, light, clear_colour) -> RenderOutput:
        import moderngl

        ctx, prog, s = self.ctx, self.prog, self.size
        self.fbo.use()
        ctx.viewport = (0, 0, s, s)
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.disable(moderngl.CULL_FACE)
        self.fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        prog["proj"].value = tuple(float(v) for v in proj)
        prog["proj_prev"].value = tuple(float(v) for v in proj_prev)
        prog["depth_range"].value = (self.near, self.far)
        d = np.asarray(light.direction, np.float64)
        prog["light_dir"].value = tuple(float(v) for v in d / np.linalg.norm(d))
        prog["light_col"].value = tuple(float(v) for v in light.colour)
        prog["ambient"].value = float(light.ambient)
        prog["diffuse"].value = float(light.diffuse)
        prog["tex"].value = 0
        prog["viewport"].value = (float(s), float(s))
        face_base = 1
        temporary = []
        for m in meshes:
            entry = self._static_for(m)
            if m.key is None:
                temporary.append(entry)
            vbo, ibo, dyn, vao, tex = entry
            dynamic = np.concatenate(
                [np.asarray(m.pos, np.float32), np.asarray(m.prev, np.float32), np.asarray(m.normal, np.float32)], axis=1
            )
            dyn.write(np.ascontiguousarray(dynamic).tobytes())
            (tex or self._white).use(location=0)
            prog["use_tex"].value = 1 if tex is not None else 0
            c1 = np.zeros((MAX_PALETTE, 3), np.float32)
            c2 = np.zeros((MAX_PALETTE, 3), np.float32)
            st = np.zeros((MAX_PALETTE, 4), np.float32)
            r = len(m.c1)
            c1[:r] = m.c1
            c2[:r] = m.c1 if m.c2 is None else m.c2
            if m.style is not None:
                st[:r] = m.style
            prog["pal_c1"].write(c1.tobytes())
            prog["pal_c2"].write(c2.tobytes())
            prog["pal_style"].write(st.tobytes())
            if m.cull:
                ctx.enable(moderngl.CULL_FACE)
                ctx.cull_face = "front"  # our y-down NDC mirrors the winding: GL "front" = back faces
            else:
                ctx.disable(moderngl.CULL_FACE)
            prog["obj_id"].value = float(m.obj_id)
            prog["face_base"].value = face_base
            vao.render(moderngl.TRIANGLES)
            face_base += int(m.faces.shape[0])
        rgba = np.frombuffer(self.fbo.read(components=4, attachment=0, dtype="f1"), np.uint8).reshape(s, s, 4)
        geo = np.frombuffer(self.fbo.read(components=4, attachment=1, dtype="f4"), np.float32).reshape(s, s, 4)
        face = np.frombuffer(self.t_face.read(alignment=1), np.int32).reshape(s, s)
        for entry in temporary:
            for obj in entry:
                if obj is not None and hasattr(obj, "release"):
                    obj.release()
        bg = np.asarray(clear_colour, np.float64)
        rgb = rgba[..., :3].copy()
        empty = geo[..., 3] == 0
        if empty.any():
            rgb[empty] = np.round(np.clip(bg, 0, 1) * 255).astype(np.uint8)
        return RenderOutput(
            rgb=rgb,
            depth=geo[..., 2].copy(),
            obj=np.round(geo[..., 3]).astype(np.int32),
            face=face.copy(),
            prev=geo[..., :2].copy(),
        )
