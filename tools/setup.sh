#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine for DTS-VIBE Live: system packages, a virtual environment
# in .venv, and the package with the extras a role needs. Idempotent; safe to run again.
#
#   bash tools/setup.sh            # live app + training (the README's main job)
#   bash tools/setup.sh test       # the same plus the test tools (what CI runs)
#   EXTRAS=live bash tools/setup.sh  # a kiosk: no PyTorch
#
# Package versions come from tools/constraints.txt (what the suite was last green on); CONSTRAINTS=FILE
# uses another file, CONSTRAINTS= none (whatever pyproject.toml's ranges resolve to today).
set -euo pipefail
cd "$(dirname "$0")/.."

role="${1:-main}"
extras="${EXTRAS:-train,live}"
[ "$role" = "test" ] && extras="$extras,test"

# System libraries: Open3D needs libusb to import and Mesa's EGL/GL to render without a screen;
# OpenCV/MediaPipe need libGL and glib (the OpenCV wheel brings its own FFmpeg for files and RTSP).
apt_packages=(python3-venv libusb-1.0-0 libegl1 libgl1 libgl1-mesa-dri libglib2.0-0 libgomp1)
# The tests also serve a real RTSP stream (GStreamer's RTSP server, driven by the system Python's PyGObject).
[ "$role" = "test" ] && apt_packages+=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad gstreamer1.0-libav)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "[setup] installing system packages: ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
constraints="${CONSTRAINTS-tools/constraints.txt}"
pin_args=()
[ -n "$constraints" ] && pin_args=(-c "$constraints")
echo "[setup] installing dtsvibe-live[$extras] into .venv${constraints:+ (versions pinned by $constraints)}"
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q "${pin_args[@]}" -e ".[$extras]"
echo "[setup] done: $(.venv/bin/python -c 'import training, realtime, engines; print("packages import")')"
