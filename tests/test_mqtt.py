"""`camera --mqtt` against a real Mosquitto broker (tests/mosquitto.py), started on a free
localhost port: the readings of examples/camera_7_2_1.avi arrive, retained, with the
availability and Home Assistant's discovery config; a broker restarted mid-run loses
nothing; a queue that overflows drops the oldest and says so; a wrong password or no broker
is one line and the camera reads on."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
from edge_digits.runtime.errors import UsageError
from edge_digits.runtime.live.mqtt import (
    MqttPublisher,
    discovery_config,
    parse_mqtt_url,
)
from edge_digits.runtime.live.run import LiveOptions, run_camera
from edge_digits.runtime.live.watch import Reading
from mosquitto import MISSING, MOSQUITTO, Broker, Subscriber, retained

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "examples" / "camera_7_2_1.avi"
# What `edge-digits camera --source examples/camera_7_2_1.avi` reads: (frame, label).
EXPECTED = [(6, 7), (14, None), (19, 2), (27, 1)]

needs_broker = pytest.mark.skipif(MOSQUITTO is None, reason=MISSING)
needs_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="needs openssl's command line (.ci/run installs it)"
)
paho = pytest.importorskip("paho.mqtt.client", reason="needs the mqtt extra (paho-mqtt)")


@pytest.fixture()
def broker(tmp_path: Path):
    started = Broker(tmp_path)
    yield started
    started.stop()


def frames_and_labels(messages) -> list[tuple[int, int | None]]:
    return [(message.json()["frame"], message.json()["label"]) for message in messages]


# -- the URL ---------------------------------------------------------------------------------


def test_the_url_gives_broker_credentials_prefix_and_device():
    options = parse_mqtt_url("mqtts://me:p%40ss@broker.lan/home/meters", device_id="kitchen")
    assert (options.host, options.port, options.tls) == ("broker.lan", 8883, True)
    assert (options.username, options.password) == ("me", "p@ss")
    assert options.reading_topic == "home/meters/kitchen/reading"
    assert options.status_topic == "home/meters/kitchen/status"
    plain = parse_mqtt_url("mqtt://localhost", device_id="pi.1")
    assert (plain.port, plain.tls, plain.prefix) == (1883, False, "edge-digits")
    assert plain.discovery_topic == "homeassistant/sensor/pi_1/reading/config"


@pytest.mark.parametrize(
    ("url", "device", "says"),
    [
        ("http://localhost/x", "a", "give mqtt://"),
        ("mqtt://localhost:99999/x", "a", "give mqtt://"),
        ("mqtt://localhost/a/#", "a", "may not hold"),
        ("mqtt://localhost/x", "a/b", "--device-id"),
        ("mqtt://me:secret@localhost:bad/x", "a", "mqtt://me:***@"),
    ],
)
def test_a_wrong_url_or_device_is_a_usage_error(url, device, says):
    with pytest.raises(UsageError, match=None) as caught:
        parse_mqtt_url(url, device_id=device)
    assert says in str(caught.value)
    assert "secret" not in str(caught.value)


def test_without_paho_the_camera_says_which_extra_to_install(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "paho.mqtt.client", None)
    result = cli("camera", "--source", str(VIDEO), "--mqtt", "mqtt://127.0.0.1:1/x")
    assert result.exit_code == 5
    assert result.errors == [
        "error: --mqtt needs paho-mqtt, which is not installed; run: pip install "
        "'edge-digits[mqtt]'"
    ]
    assert result.stdout == ""


# -- a real broker ---------------------------------------------------------------------------


@needs_broker
def test_the_camera_publishes_exactly_its_readings_retained_with_discovery(broker, cli):
    watcher = Subscriber(broker, "meters/#")
    result = cli(
        "camera", "--source", str(VIDEO), "--mqtt", f"{broker.url}/meters", "--device-id", "pi1"
    )
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    messages = watcher.wait("meters/pi1/reading", len(EXPECTED))
    assert frames_and_labels(messages) == EXPECTED
    assert [message.json() for message in messages] == lines  # the JSON lines, exactly
    assert [m.payload for m in watcher.wait("meters/pi1/status", 2)] == [b"online", b"offline"]
    watcher.close()
    last = retained(broker, "meters/pi1/reading")
    assert last is not None and last.retain and last.json() == lines[-1]
    status = retained(broker, "meters/pi1/status")
    assert status is not None and status.payload == b"offline"
    assert not [line for line in result.errors if line.startswith("warning")]


@needs_broker
def test_the_discovery_config_is_valid_for_home_assistant(broker, cli):
    result = cli("camera", "--source", str(VIDEO), "--mqtt", f"{broker.url}/meters",
                 "--device-id", "kitchen.meter")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    found = retained(broker, "homeassistant/sensor/kitchen_meter/reading/config")
    assert found is not None and found.retain
    config = found.json()
    # What Home Assistant's MQTT sensor schema requires and what it relies on.
    assert config["state_topic"] == "meters/kitchen.meter/reading"
    assert config["json_attributes_topic"] == config["state_topic"]
    assert config["availability_topic"] == "meters/kitchen.meter/status"
    assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
    assert config["unique_id"] == "edge_digits_kitchen_meter_reading"
    assert config["device"]["identifiers"] == ["edge_digits_kitchen_meter"]
    assert config["value_template"] == "{{ value_json.label }}"
    assert config == discovery_config(parse_mqtt_url(f"{broker.url}/meters",
                                                     device_id="kitchen.meter"))  # fmt: skip
    # --number publishes the text..
    assert (
        discovery_config(parse_mqtt_url("mqtt://h/x", device_id="a"), number=True)["value_template"]
        == "{{ value_json.text }}"
    )


@needs_broker
def test_no_discovery_when_asked_not_to(broker, cli):
    result = cli("camera", "--source", str(VIDEO), "--mqtt", f"{broker.url}/m",
                 "--device-id", "quiet", "--ha-discovery", "off")  # fmt: skip
    assert result.exit_code == 0
    assert retained(broker, "homeassistant/sensor/quiet/reading/config", timeout=1.0) is None
    assert retained(broker, "m/quiet/reading") is not None


@needs_broker
def test_a_broker_restarted_mid_run_loses_no_reading(broker):
    """The broker stops (SIGTERM) once the first reading is in, and comes back 2 s later:
    the reading made meanwhile (frame 14, 2.8 s into the video at 5 fps) waits in the queue
    and arrives; none is lost."""
    watcher = Subscriber(broker, "meters/#", persistent=True)
    options = parse_mqtt_url(f"{broker.url}/meters", device_id="pi1")
    said: list[str] = []
    run = threading.Thread(
        target=run_camera,
        args=(LiveOptions(source=str(VIDEO), max_fps=5.0, mqtt=options),),
        kwargs={"echo": said.append},
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run.start()
        assert watcher.wait("meters/pi1/reading", 1, timeout=10)
        broker.stop()
        time.sleep(2.0)
        broker.start()
        run.join(30)
    assert not run.is_alive()
    messages = watcher.wait("meters/pi1/reading", len(EXPECTED), timeout=10)
    watcher.close()
    unique = sorted(set(frames_and_labels(messages)))  # QoS 1: at least once
    assert unique == EXPECTED
    lines = [str(warning.message) for warning in caught]
    outage = [line for line in lines if "the camera keeps reading" in line]
    assert len(outage) == 1 and "connection was lost" in outage[0]
    back = [line for line in lines if "connected again" in line]
    assert len(back) == 1 and back[0].endswith("0 dropped so far")
    sent = re.search(r"(\d+) queued readings sent", back[0])
    assert sent is not None and int(sent.group(1)) >= 1, back[0]
    assert not [line for line in lines if "never sent" in line]


@needs_broker
def test_the_queue_keeps_the_latest_readings_and_counts_the_dropped(broker, tmp_path):
    """No broker at first: 5 readings into a queue of 2; when the broker is there, the
    latest 2 arrive, in order, and the 3 dropped are counted."""
    broker.stop()
    options = parse_mqtt_url(f"{broker.url}/q", device_id="pi1")
    options = type(options)(**{**options.__dict__, "queue_limit": 2})
    said: list[str] = []
    publisher = MqttPublisher(options, warn=said.append)
    for frame in range(5):
        publisher.reading(Reading(time=frame, wall=time.time(), frame=frame, value=frame,
                                  score=0.99, fps=10.0))  # fmt: skip
    broker.start()
    watcher = Subscriber(broker, "q/#", persistent=False)
    deadline = time.monotonic() + 10
    while publisher.published < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    publisher.close()
    messages = watcher.wait("q/pi1/reading", 1, timeout=5)
    watcher.close()
    # The subscriber came after the flush: the broker kept the last (retained).
    assert messages and messages[-1].json()["frame"] == 4
    assert (publisher.published, publisher.dropped) == (2, 3)
    assert len([line for line in said if "the camera keeps reading" in line]) == 1
    assert next(line for line in said if "connected again" in line).endswith(
        "2 queued readings sent, 3 dropped so far"
    )
    assert "3 were dropped" in said[-1]


@needs_broker
def test_a_wrong_password_is_one_line_and_the_camera_reads_on(tmp_path, cli):
    broker = Broker(tmp_path, users={"meter": "right"})
    try:
        result = cli("camera", "--source", str(VIDEO), "--max-fps", "30", "--mqtt",
                     f"mqtt://meter:wrong@127.0.0.1:{broker.port}/m")  # fmt: skip
    finally:
        broker.stop()
    assert result.exit_code == 0
    assert [json.loads(line)["frame"] for line in result.stdout.splitlines()] == [
        frame for frame, _ in EXPECTED
    ]
    refused = [line for line in result.errors if "refused" in line]
    assert len(refused) == 1, result.stderr
    assert refused[0].startswith("warning: mqtt: mqtt://127.0.0.1:")
    assert "wrong" not in result.stderr  # the password is never shown
    assert result.errors[-2].startswith("warning: mqtt: 4 readings were never sent")


@needs_broker
@needs_openssl
def test_mqtts_publishes_over_tls_to_a_broker_whose_ca_is_trusted(tmp_path, cli, monkeypatch):
    """mqtts://: the broker's certificate is checked against the trusted CAs; a broker with
    its own CA is trusted through OpenSSL's SSL_CERT_FILE, as README says."""
    broker = Broker(tmp_path, tls=True)
    try:
        assert broker.ca is not None
        watcher = Subscriber(broker, "tls/#")
        monkeypatch.setenv("SSL_CERT_FILE", str(broker.ca))
        result = cli("camera", "--source", str(VIDEO), "--mqtt", f"{broker.url}/tls",
                     "--device-id", "pi1")  # fmt: skip
        assert result.exit_code == 0, result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        messages = watcher.wait("tls/pi1/reading", len(EXPECTED))
        assert [message.json() for message in messages] == lines
        assert frames_and_labels(messages) == EXPECTED
        watcher.close()
        assert not [line for line in result.errors if line.startswith("warning")]
    finally:
        broker.stop()


@needs_broker
@needs_openssl
def test_mqtts_with_an_untrusted_certificate_is_one_line_and_the_camera_reads_on(
    tmp_path, cli, monkeypatch
):
    broker = Broker(tmp_path, tls=True)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    try:
        result = cli("camera", "--source", str(VIDEO), "--max-fps", "30",
                     "--mqtt", f"{broker.url}/tls")  # fmt: skip
    finally:
        broker.stop()
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == len(EXPECTED)
    away = [line for line in result.errors if "cannot connect" in line]
    assert len(away) == 1, result.stderr
    assert away[0].startswith(f"warning: mqtt: {broker.url}: cannot connect")
    assert "the broker's certificate is not trusted: " in away[0]
    assert "set SSL_CERT_FILE to the CA's certificate" in away[0]


def test_no_broker_is_one_line_and_the_camera_reads_on(cli):
    from mosquitto import free_port

    result = cli("camera", "--source", str(VIDEO), "--max-fps", "30",
                 "--mqtt", f"mqtt://127.0.0.1:{free_port()}/m")  # fmt: skip
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == len(EXPECTED)
    away = [line for line in result.errors if "cannot connect" in line]
    assert len(away) == 1
    assert "the camera keeps reading" in away[0]


def test_device_id_without_mqtt_is_a_usage_error(cli):
    result = cli("camera", "--source", str(VIDEO), "--device-id", "pi1")
    assert result.exit_code == 2
    assert "give --mqtt too" in result.stderr


@needs_broker
def test_sigterm_stops_the_camera_cleanly_and_says_offline(broker):
    """As systemd stops the service: exit 0, the summary, `offline` retained."""
    watcher = Subscriber(broker, "m/#")
    camera = subprocess.Popen(
        [str(Path(sys.executable).with_name("edge-digits")), "camera", "--source", str(VIDEO),
         "--max-fps", "3", "--mqtt", f"{broker.url}/m", "--device-id", "svc"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert [m.payload for m in watcher.wait("m/svc/status", 1)] == [b"online"]
        camera.send_signal(signal.SIGTERM)
        _, err = camera.communicate(timeout=20)
    finally:
        if camera.poll() is None:
            camera.kill()
            camera.wait()
    assert camera.returncode == 0, err
    assert err.splitlines()[-1].startswith("camera: ")
    assert [m.payload for m in watcher.wait("m/svc/status", 2)] == [b"online", b"offline"]
    watcher.close()
    status = retained(broker, "m/svc/status")
    assert status is not None and status.payload == b"offline"


class SlowDoor:
    """A TCP relay to the broker that holds each new connection `delay` seconds before
    passing it on: a first connection (a TLS handshake on a Pi, a far broker) slower than a
    whole short run."""

    def __init__(self, broker: Broker, delay: float) -> None:
        import socket

        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.broker, self.delay = broker, delay
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import socket

        while True:
            try:
                near, _ = self.server.accept()
            except OSError:
                return
            time.sleep(self.delay)
            far = socket.create_connection(("127.0.0.1", self.broker.port))
            for source, sink in ((near, far), (far, near)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source, sink) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()

    def close(self) -> None:
        self.server.close()


@needs_broker
def test_a_run_shorter_than_the_first_connection_still_sends_its_readings(broker, cli):
    door = SlowDoor(broker, delay=1.5)
    try:
        watcher = Subscriber(broker, "slow/#")
        result = cli("camera", "--source", str(VIDEO), "--mqtt",
                     f"mqtt://127.0.0.1:{door.port}/slow", "--device-id", "pi1")  # fmt: skip
        assert result.exit_code == 0, result.stderr
        messages = watcher.wait("slow/pi1/reading", len(EXPECTED))
        watcher.close()
    finally:
        door.close()
    assert frames_and_labels(messages) == EXPECTED
    assert not [line for line in result.errors if line.startswith("warning")]
