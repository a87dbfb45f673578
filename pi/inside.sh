#!/usr/bin/env bash
# Runs inside the emulated Raspberry Pi (pi/pi-test.sh starts it in the arm64 chroot, as the
# user pi, in /home/pi with the repository copied to ~/edge-digits). One step per call:
#   install-lite     Raspberry Pi OS Lite, no camera: a plain venv and `pip install .`
#   install-recipe   the README's Pi recipe, beside the system's numpy and its extensions
#   old-recipe       the recipe without its constraints breaks Picamera2; the error's fix mends it
#   test VENV NAME [FILES]  the `pi` tests (of FILES), then classify examples/ and the MNIST PNGs
#                    to ~/data/NAME.jsonl
#   hide-libraries VENV   each native package with one of its libraries hidden: one line, exit 5
#   gui-opencv VENV  OpenCV's desktop build (opencv-python) on a system without X11: one line, exit 5
set -euo pipefail
cd "$HOME"

say() { printf '%s\n' "$*"; }
fail() { say "FAIL: $*"; exit 1; }
python_of() { printf '%s/bin/python -u -X faulthandler' "$1"; }
site_of() { "$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }

install_lite() {
    # What a user of Raspberry Pi OS Lite does, to the letter (README, "On a Raspberry Pi").
    local libraries
    libraries=$(/usr/sbin/ldconfig -p) || fail "ldconfig cannot list the system's libraries"
    if grep -q 'libxcb\|libX11' <<< "$libraries"; then fail "this system has X11 libraries"; fi
    python3 -m venv ~/digits-lite
    ~/digits-lite/bin/pip install --quiet ./edge-digits
    (cd edge-digits && ~/digits-lite/bin/edge-digits classify examples/ >/dev/null) \
        || fail "edge-digits classify examples/ failed in the Lite venv"
    ~/digits-lite/bin/pip install --quiet pytest hypothesis
}

install_recipe() {
    # The README's recipe with the camera stack: the venv sees the system's packages
    # (Picamera2 comes from apt), and the constraints keep the system's numpy 1.x.
    python3 -m venv --system-site-packages ~/digits
    ~/digits/bin/pip install --quiet -c edge-digits/pi/constraints-bookworm.txt ./edge-digits
    ~/digits/bin/edge-digits classify edge-digits/examples/page_label7.png >/dev/null \
        || fail "edge-digits classify failed in the recipe's venv"
    # A numpy-1.x extension of the system's still imports beside edge-digits, on the same numpy.
    ~/digits/bin/python -c '
import numpy, pywt, cv2, ai_edge_litert.interpreter
assert numpy.__file__.startswith("/usr/lib/python3/dist-packages/"), numpy.__file__
pywt.dwt([1.0, 2.0, 3.0, 4.0], "haar")
' || fail "the system's numpy extension (pywt) no longer imports in the recipe's venv"
    expect_camera ~/digits 7 "no camera is attached"
    ~/digits/bin/pip install --quiet pytest hypothesis
}

expect_camera() {  # VENV CODE WORD: `camera --source picamera` gives exit CODE, naming WORD
    local venv=$1 expected=$2 word=$3 code=0
    "$venv/bin/edge-digits" camera --source picamera > /dev/null 2> data/camera.txt || code=$?
    if [ "$code" != "$expected" ] || ! grep -q "$word" data/camera.txt; then
        cat data/camera.txt
        fail "camera --source picamera in $venv: expected exit $expected naming $word, got $code"
    fi
    say "$(tail -1 data/camera.txt)"
}

old_recipe() {
    # The recipe as it was: no constraints. pip puts numpy 2 in front of the system's numpy,
    # and the system's Picamera2 (here its stand-in, importing pywt) no longer loads.
    python3 -m venv --system-site-packages ~/digits-old
    ~/digits-old/bin/pip install --quiet ./edge-digits
    expect_camera ~/digits-old 5 "keep the system's numpy"
    # The fix the error names, as a user would type it.
    ~/digits-old/bin/pip uninstall --quiet -y numpy opencv-python-headless
    ~/digits-old/bin/pip install --quiet -c edge-digits/pi/constraints-bookworm.txt ./edge-digits
    expect_camera ~/digits-old 7 "no camera is attached"
}

run_tests() {  # VENV NAME [TEST FILES...] (default: every test marked pi)
    local venv=$1 name=$2
    shift 2
    local selection=("${@:-tests/}")
    (cd edge-digits && $(python_of "$venv") -m pytest -m pi -q -p no:cacheprovider "${selection[@]}") \
        > "data/$name.pytest.log" 2>&1 || { tail -40 "data/$name.pytest.log"; fail "pytest -m pi ($name)"; }
    # Labels and scores of the embedded model, compared with the x86 run by pi-test.sh.
    (cd edge-digits && "$venv/bin/edge-digits" classify --json --top-k 3 examples ../data/mnist) \
        > "data/$name.jsonl"
    "$venv/bin/python" -c '
from importlib.metadata import version
import numpy
where = " (the system'"'"'s)" if numpy.__file__.startswith("/usr/lib/") else ""
opencv, litert = version("opencv-python-headless"), version("ai-edge-litert")
print(f"numpy {numpy.__version__}{where}, opencv-python-headless {opencv}, ai-edge-litert {litert}")' \
        > "data/$name.versions"
}

expect_one_line() {  # NAME WORD COMMAND...: exit 5 and one line on stderr that names WORD
    local name=$1 word=$2 code=0
    shift 2
    "$@" > /dev/null 2> "data/stderr.txt" || code=$?
    local lines
    lines=$(wc -l < data/stderr.txt)
    if [ "$code" != 5 ] || [ "$lines" != 1 ] || ! grep -q "$word" data/stderr.txt; then
        cat data/stderr.txt
        fail "$name: expected one line naming $word and exit 5, got $lines lines and exit $code"
    fi
    say "$name: $(cat data/stderr.txt)"
}

hide_libraries() {
    local venv=$1 site
    site=$(site_of "$venv")
    local -A libraries=(
        [numpy]="$(ls "$site"/numpy.libs/*.so* | head -1)"
        [OpenCV]="$(ls "$site"/opencv_python_headless.libs/*.so* | head -1)"
        [Pillow]="$(ls "$site"/pillow.libs/*.so* | head -1)"
        [LiteRT]="$site/ai_edge_litert/libpywrap_litert_common.so"
    )
    for word in numpy OpenCV Pillow LiteRT; do
        local library=${libraries[$word]}
        [ -f "$library" ] || fail "no library to hide for $word"
        mv "$library" "$library.hidden"
        expect_one_line "hidden ${library#"$site"/}" "$word" \
            "$venv/bin/edge-digits" classify edge-digits/examples/page_label7.png \
            || { mv "$library.hidden" "$library"; exit 1; }
        mv "$library.hidden" "$library"
    done
}

gui_opencv() {
    # A venv with everything of VENV (a .pth file) but OpenCV's desktop build in front.
    local venv=$1
    python3 -m venv ~/digits-gui
    site_of "$venv" > "$(site_of ~/digits-gui)/lite.pth"
    ~/digits-gui/bin/pip install --quiet --no-deps opencv-python
    expect_one_line "opencv-python without X11" "opencv-python-headless" \
        ~/digits-gui/bin/python -c 'import sys; from edge_digits.runtime.cli import main; sys.argv[0] = "edge-digits"; main()' \
        classify edge-digits/examples/page_label7.png
}

step=${1:?a step: install-lite, install-recipe, test, hide-libraries or gui-opencv}
shift
case $step in
    install-lite) install_lite ;;
    install-recipe) install_recipe ;;
    old-recipe) old_recipe ;;
    test) run_tests "$@" ;;
    hide-libraries) hide_libraries "$@" ;;
    gui-opencv) gui_opencv "$@" ;;
    *) fail "unknown step $step" ;;
esac
