"""A real Mosquitto broker for tests and benchmarks: started on a free localhost port, stopped
and started again on the same port (its state kept on disk, as a restarted broker keeps it),
and a subscriber that collects what it receives.

Debian's `mosquitto` package; `.ci/run` installs it. Tests skip (saying so) without it.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MOSQUITTO = shutil.which("mosquitto") or next(
    (path for path in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(path).exists()),
    None,
)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
MISSING = "needs the Mosquitto broker (Debian: apt-get install mosquitto; .ci/run installs it)"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A certificate authority and a server certificate it signed, for 127.0.0.1 and
    localhost (openssl's command line): the CA's certificate, the server's, its key."""
    ca, ca_key = folder / "ca.crt", folder / "ca.key"
    server, key, request = folder / "server.crt", folder / "server.key", folder / "server.csr"
    names = folder / "names.ext"
    names.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for command in (
        ["req", "-x509", *curve, "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=edge-digits test CA"],
        ["req", *curve, "-keyout", key, "-out", request, "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", server, "-days", "2", "-extfile", names],
    ):  # fmt: skip
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    return ca, server, key


class Broker:
    """mosquitto on 127.0.0.1:`port`, configured in `folder`; `users` {name: password}
    turns anonymous access off; `tls` makes the listener TLS only (`mqtts://`), with a
    certificate signed by a CA made for the test (`ca`)."""

    def __init__(
        self, folder: Path, users: dict[str, str] | None = None, *, tls: bool = False
    ) -> None:
        assert MOSQUITTO is not None, MISSING
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.ca: Path | None = None
        lines = [
            f"listener {self.port} 127.0.0.1",
            # Sessions and queued messages survive a restart, as on a real installation.
            "persistence true",
            f"persistence_location {folder}/",
            "log_dest stderr",
            # Run as whoever runs the tests: as root, mosquitto would switch to the user
            # `mosquitto`, who cannot read the test's private folder.
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
        ]
        if users:
            assert MOSQUITTO_PASSWD is not None, "mosquitto_passwd comes with mosquitto"
            passwords = folder / "passwords"
            for index, (name, password) in enumerate(users.items()):
                create = ["-c"] if index == 0 else []
                subprocess.run(
                    [MOSQUITTO_PASSWD, *create, "-b", str(passwords), name, password], check=True
                )
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        if tls:
            self.ca, certificate, key = make_certificates(folder)
            lines += [f"cafile {self.ca}", f"certfile {certificate}", f"keyfile {key}"]
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.start()

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.ca else 'mqtt'}://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.folder / "mosquitto.log").open("ab")
        self.process = subprocess.Popen(
            [str(MOSQUITTO), "-c", str(self.config)], stdout=log, stderr=log
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"mosquitto exited: {self.log()}") from None
                time.sleep(0.02)
        raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log()}")

    def stop(self) -> None:
        """SIGTERM, as systemd stops it: it saves its state and closes every connection."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


@dataclass
class Message:
    topic: str
    payload: bytes
    retain: bool
    received: float  # time.time() on arrival

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """A paho client subscribed (QoS 1) to `topic`, collecting messages. `persistent`: a
    session the broker keeps across the subscriber's and its own restarts, so that nothing
    published while it is reconnecting is missed."""

    def __init__(self, broker: Broker, topic: str = "#", *, persistent: bool = False,
                 name: str = "test-subscriber") -> None:  # fmt: skip
        import paho.mqtt.client as mqtt

        self.messages: list[Message] = []
        self._lock = threading.Condition()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=name, clean_session=not persistent,
            protocol=mqtt.MQTTv311,
        )  # fmt: skip
        self.client.reconnect_delay_set(1, 1)
        self._subscribed = threading.Event()

        def connected(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            client.subscribe(topic, qos=1)

        def subscribed(client: Any, userdata: Any, mid: Any, reasons: Any, props: Any) -> None:
            self._subscribed.set()

        def received(client: Any, userdata: Any, message: Any) -> None:
            with self._lock:
                self.messages.append(
                    Message(
                        message.topic, bytes(message.payload), bool(message.retain), time.time()
                    )
                )
                self._lock.notify_all()

        self.client.on_connect = connected
        self.client.on_subscribe = subscribed
        self.client.on_message = received
        if broker.ca is not None:
            self.client.tls_set(ca_certs=str(broker.ca))
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the subscription was not acknowledged"

    def on(self, topic: str) -> list[Message]:
        with self._lock:
            return [message for message in self.messages if message.topic == topic]

    def wait(self, topic: str, count: int, timeout: float = 10.0) -> list[Message]:
        """The messages on `topic` once there are `count` (or whatever came by `timeout`)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [message for message in self.messages if message.topic == topic]
                left = deadline - time.monotonic()
                if len(found) >= count or left <= 0:
                    return found
                self._lock.wait(left)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained(broker: Broker, topic: str, timeout: float = 5.0) -> Message | None:
    """What the broker keeps on `topic` (a fresh subscriber's first message), or None."""
    subscriber = Subscriber(broker, topic, name=f"retained-{time.monotonic_ns()}")
    try:
        found = subscriber.wait(topic, 1, timeout)
        return found[0] if found else None
    finally:
        subscriber.close()
