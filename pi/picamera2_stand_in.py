"""A stand-in for Raspberry Pi OS's Picamera2, which Debian does not have, installed as the
system's `picamera2` in the emulated Pi by pi/pi-test.sh.

Like the real one, it comes from the system and imports a C extension built against the
system's numpy 1.x (the real one: simplejpeg; here Debian's PyWavelets). There is no camera:
opening one fails as Picamera2 does without a camera module, which edge-digits reports as
exit 7 — after the import, which is what the test is about.
"""

import pywt  # noqa: F401  (built against the system's numpy 1.24, like simplejpeg)


class Picamera2:
    def __init__(self) -> None:
        raise RuntimeError("no camera is attached (an emulated Pi)")
