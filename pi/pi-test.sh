#!/usr/bin/env bash
# `make pi-test`: the runtime on a Raspberry Pi's software stack, under emulation.
#
# Builds (once; again when pi/rootfs.conf changes) a Debian 12 arm64 root filesystem with
# debootstrap, run through QEMU user emulation (qemu-user-static and binfmt_misc), with what
# Raspberry Pi OS Lite has for Python. In it, as the user pi, it installs this repository the
# ways the README says (Lite: a plain venv; the camera recipe: a venv beside the system's
# numpy), then runs, as a Pi 4 (Cortex-A72) and as a Pi 5 (Cortex-A76), the tests marked
# `pi`, and compares the embedded model's answers on examples/ and 500 MNIST test PNGs with
# this machine's: the same labels, scores within 0.005 (pi/compare.py; the PNGs' are byte
# for byte the same, three JPEG photos' are not). Last, native libraries are hidden one at a
# time, and OpenCV's desktop build is tried without X11: each must give one line and exit 5.
#
# One summary line per environment. Where emulation cannot run (not root, no binfmt_misc),
# it says why and fails, unless PI_TEST=skip. Emulated times say nothing of a Pi's speed.
#
# Facts this rests on (qemu 7.2, Debian 12):
# - /proc/sys/fs/binfmt_misc must be mounted before qemu-aarch64 can be registered; Debian's
#   registration uses the F flag, so the interpreter works inside a chroot without a copy.
# - qemu passes the host's /proc/cpuinfo through; XNNPACK's CPU detection then crashes in
#   Interpreter(): a Pi's cpuinfo (pi/cpuinfo/) is bind-mounted over it.
# - QEMU_CPU must name a real core: the default `max` gives numpy floating-point errors and
#   different int8 outputs.
# - The chroot starts with a clean environment and this machine's CA certificates, or pip
#   cannot reach the package registry through this network.
# - PIP_NO_COMPILE: pip byte-compiles every file it installs, a large part of an emulated
#   install; Python compiles what it imports anyway, so what is installed works the same.
set -euo pipefail
{ # read whole before it runs, so that editing this file during a run cannot break the run
cd "$(dirname "$0")/.."
REPO=$PWD
CACHE=${PI_TEST_CACHE:-$REPO/.pi-test}
VENV_BIN=${VENV_BIN:-$REPO/.venv/bin}
MNIST_COUNT=500
START=$SECONDS

say() { printf 'pi-test: %s\n' "$*"; }
cannot_run() {  # PI_TEST=skip has ended the script before anything can go wrong
    say "cannot run: $*; set PI_TEST=skip to go on without the emulated Pi"
    exit 1
}

if [ "${PI_TEST:-}" = skip ]; then
    say "SKIPPED (PI_TEST=skip): the runtime was not tried on an emulated Pi"
    exit 0
fi

# --- The emulator -----------------------------------------------------------------------
[ "$(id -u)" = 0 ] || cannot_run "debootstrap, chroot and binfmt_misc need root"
if ! command -v debootstrap >/dev/null || ! command -v qemu-aarch64-static >/dev/null; then
    command -v apt-get >/dev/null || cannot_run "no apt-get to install qemu-user-static and debootstrap"
    say "installing qemu-user-static and debootstrap (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static debootstrap \
        binfmt-support >/dev/null
fi
if [ "$(uname -m)" != aarch64 ]; then
    BINFMT=/proc/sys/fs/binfmt_misc
    [ -e $BINFMT/register ] || mount -t binfmt_misc binfmt_misc $BINFMT 2>/dev/null \
        || cannot_run "binfmt_misc cannot be mounted here (a container without that right?)"
    [ -e $BINFMT/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 \
        || update-binfmts --import qemu-aarch64 >/dev/null 2>&1 || true
    grep -q '^enabled' $BINFMT/qemu-aarch64 2>/dev/null \
        || cannot_run "qemu-aarch64 could not be registered with binfmt_misc"
    grep -q 'flags:.*F' $BINFMT/qemu-aarch64 \
        || cannot_run "qemu-aarch64 is registered without the F flag; a chroot cannot use it"
fi

# --- The root filesystem (cached) --------------------------------------------------------
# shellcheck source=rootfs.conf
source pi/rootfs.conf
RECIPE=$(sha256sum < pi/rootfs.conf | cut -c1-12)
ROOT=$CACHE/rootfs-$RECIPE
if [ ! -e "$ROOT/.complete" ]; then
    rm -rf "$CACHE"/rootfs-*
    mkdir -p "$CACHE"
    say "building the arm64 root filesystem ($SUITE: $PACKAGES); a few minutes, once"
    debootstrap --arch="$ARCH" --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOT.tmp" \
        "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 \
        || { tail -20 "$CACHE/debootstrap.log"; say "debootstrap failed"; exit 1; }
    chroot "$ROOT.tmp" /usr/sbin/useradd --create-home --uid 1000 --shell /bin/bash pi
    chroot "$ROOT.tmp" /usr/bin/apt-get clean
    mv "$ROOT.tmp" "$ROOT"
    touch "$ROOT/.complete"
fi
BUILT=$SECONDS
# This machine's CA certificates, so that pip reaches the registry through its network.
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"

# --- The repository and the data, as the user pi -----------------------------------------
HOME_PI=$ROOT/home/pi
find "$HOME_PI" -mindepth 1 -maxdepth 1 ! -name .cache -exec rm -rf {} +
mkdir -p "$HOME_PI/edge-digits" "$HOME_PI/data/mnist"
# What git tracks, and new files it does not ignore: the repository as a clone would have it.
git ls-files -z --cached --others --exclude-standard \
    | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$HOME_PI/edge-digits"
"$VENV_BIN/python" - "$HOME_PI/data/mnist" "$MNIST_COUNT" <<'EOF'
import sys
from pathlib import Path

from edge_digits.runtime.files.mnist import load_mnist
from PIL import Image

folder, count = Path(sys.argv[1]), int(sys.argv[2])
mnist = load_mnist()
for index in range(count):
    name = f"mnist_test_{index:05d}_label{int(mnist.y_test[index])}.png"
    Image.fromarray(mnist.x_test[index]).save(folder / name)
EOF
cp pi/inside.sh "$HOME_PI/inside.sh"
# The system's Picamera2, as Raspberry Pi OS has it from apt (here a stand-in: see its docstring).
install -D -m 644 pi/picamera2_stand_in.py "$ROOT/usr/local/lib/python3.11/dist-packages/picamera2/__init__.py"
chown -R 1000:1000 "$HOME_PI"
# The reference: this machine's answers, from the same folder, by the same command.
(cd "$HOME_PI/edge-digits" && "$VENV_BIN/edge-digits" classify --json --top-k 3 examples ../data/mnist) \
    > "$CACHE/x86.jsonl"

# --- Into the emulated Pi ------------------------------------------------------------------
inside() {  # PI STEP ARGS...: one step of pi/inside.sh as the user pi, on a Pi 4 or Pi 5
    local pi=$1 cpu
    shift
    case $pi in pi4) cpu=cortex-a72 ;; pi5) cpu=cortex-a76 ;; esac
    # A private mount namespace: /proc, /sys, /dev and the Pi's cpuinfo vanish with it.
    unshare --mount --propagation private /bin/bash -c '
        set -e
        root=$1 cpuinfo=$2 cpu=$3
        shift 3
        mount -t proc proc "$root/proc"
        mount --bind "$cpuinfo" "$root/proc/cpuinfo"
        mount -t sysfs -o ro sysfs "$root/sys"
        mount --rbind /dev "$root/dev"
        exec chroot --userspec=1000:1000 "$root" /usr/bin/env -i HOME=/home/pi USER=pi \
            PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 QEMU_CPU="$cpu" \
            PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
            PIP_CACHE_DIR=/home/pi/.cache/pip PIP_NO_COMPILE=1 /bin/bash /home/pi/inside.sh "$@"
    ' inside "$ROOT" "$REPO/pi/cpuinfo/$pi" "$cpu" "$@"
}

compare() {  # NAME: the emulated answers against this machine's (pi/compare.py)
    local name=$1
    "$VENV_BIN/python" "$REPO/pi/compare.py" "$CACHE/x86.jsonl" "$HOME_PI/data/$name.jsonl"
}
environment() {  # PI VENV NAME WHAT [TEST FILES...]: the pi tests and the answers; one line
    local pi=$1 venv=$2 name=$3 what=$4 began=$SECONDS passed comparison
    shift 4
    if ! inside "$pi" test "$venv" "$name" "$@" > "$CACHE/$name.log" 2>&1; then
        cat "$CACHE/$name.log"
        say "$name: $what: FAILED (log: $HOME_PI/data/$name.pytest.log)"
        return 1
    fi
    passed=$(tail -1 "$HOME_PI/data/$name.pytest.log" | sed 's/^=* *//; s/ *=*$//')
    comparison=$(compare "$name") || { say "$name: $what: $comparison"; return 1; }
    say "$name: $what; $(cat "$HOME_PI/data/$name.versions"): $passed; $comparison ($((SECONDS - began)) s)"
}
native_failures() {  # hidden libraries and OpenCV's desktop build, in the Lite venv
    if inside pi4 hide-libraries /home/pi/digits-lite > "$CACHE/hidden.log" 2>&1 \
        && inside pi4 gui-opencv /home/pi/digits-lite >> "$CACHE/hidden.log" 2>&1; then
        say "native libraries hidden (numpy, OpenCV, Pillow, LiteRT) and OpenCV's desktop build without X11: one line and exit 5 each:"
        sed 's/^/pi-test:   /' "$CACHE/hidden.log"
    else
        sed 's/^/pi-test:   /' "$CACHE/hidden.log"
        say "a native library that fails to load: FAILED"
        return 1
    fi
}
old_recipe() {  # the recipe without its constraints, and the fix its error gives
    if inside pi4 old-recipe > "$CACHE/old-recipe.log" 2>&1; then
        say "the recipe without pi/constraints-bookworm.txt breaks the system's Picamera2 (exit 5, one line); the fix that line gives mends it (exit 7: no camera):"
        sed 's/^/pi-test:   /' "$CACHE/old-recipe.log"
    else
        sed 's/^/pi-test:   /' "$CACHE/old-recipe.log"
        say "the recipe without its constraints, then the fix its error names: FAILED"
        return 1
    fi
}

# Two at a time: this machine's two cores (each emulated process uses about one).
say "root filesystem ready ($((BUILT - START)) s); installing as the README says"
inside pi4 install-lite > "$CACHE/install-lite.log" 2>&1 &
LITE=$!
inside pi4 install-recipe > "$CACHE/install-recipe.log" 2>&1 &
RECIPE_INSTALL=$!
wait $LITE || { cat "$CACHE/install-lite.log"; say "install on Raspberry Pi OS Lite (pip install .): FAILED"; exit 1; }
wait $RECIPE_INSTALL || { cat "$CACHE/install-recipe.log"; say "install by the README's camera recipe: FAILED"; exit 1; }
say "installed in $((SECONDS - BUILT)) s: Lite venv (pip install .), camera recipe venv beside the system's numpy (pywt and the system's Picamera2 still import)"

FAILED=0
environment pi4 /home/pi/digits-lite pi4-lite "Pi 4 (Cortex-A72), Lite venv" > "$CACHE/pi4-lite.summary" &
FIRST=$!
environment pi5 /home/pi/digits-lite pi5-lite "Pi 5 (Cortex-A76), Lite venv" > "$CACHE/pi5-lite.summary" &
SECOND=$!
wait $FIRST || FAILED=1
cat "$CACHE/pi4-lite.summary"
# Beside the system's numpy 1.24: the tests of the code that computes with numpy.
environment pi4 /home/pi/digits pi4-recipe "Pi 4 (Cortex-A72), camera recipe venv" \
    tests/test_classifier.py tests/test_preprocess.py tests/test_fast_paths.py tests/test_photo.py \
    tests/test_hostile.py tests/test_camera.py tests/test_debug_trace.py tests/test_record.py \
    tests/test_quantize.py > "$CACHE/pi4-recipe.summary" &
FIRST=$!
wait $SECOND || FAILED=1
cat "$CACHE/pi5-lite.summary"
native_failures || FAILED=1
old_recipe || FAILED=1
wait $FIRST || FAILED=1
cat "$CACHE/pi4-recipe.summary"
say "done in $((SECONDS - START)) s (emulated: these times say nothing of a Pi's speed)"
exit $FAILED
}
