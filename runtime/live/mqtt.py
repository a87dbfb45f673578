"""`camera --mqtt URL`: each steady reading published to an MQTT broker, with Home Assistant
discovery and the device's availability as the broker's last will.

    <prefix>/<device-id>/reading   each reading, the JSON line's record; retained, QoS 1
    <prefix>/<device-id>/status    "online", or "offline" (the last will; retained)
    homeassistant/sensor/<node>/reading/config   the discovery config (retained; --ha-discovery)

The broker is never in the way of reading: the client connects in the background (paho-mqtt's
network thread), reconnects with exponential backoff (1 s doubling to 30 s), and readings made
while it is away wait in a bounded queue (QUEUE_LIMIT, the oldest dropped first and counted)
that is sent, in order, on reconnection. Each outage is one warning line; its end is one more
line with what was sent and dropped. paho-mqtt comes with the `mqtt` extra.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ..errors import EdgeDigitsWarning, MissingDependencyError, UsageError, one_line
from .sinks import camera_record
from .watch import FrameResult, Reading

if TYPE_CHECKING:
    import paho.mqtt.client as paho

MQTT_ENV = "EDGE_DIGITS_MQTT"
MQTT_EXTRA = "pip install 'edge-digits[mqtt]'"
DEFAULT_PREFIX = "edge-digits"
DISCOVERY_PREFIX = "homeassistant"  # Home Assistant's default discovery prefix
QUEUE_LIMIT = 1000  # readings kept while the broker is away; the oldest are dropped first
RECONNECT_MIN, RECONNECT_MAX = 1, 30  # seconds: paho's backoff doubles from min to max
KEEPALIVE = 30  # seconds; a broker that vanishes without closing is noticed within 1.5x this
CLOSE_TIMEOUT = 5.0  # seconds to wait at the end of a run for the last readings' acknowledgement
ONLINE, OFFLINE = "online", "offline"


def _why_not(error: BaseException | None) -> str:
    """Why a connection could not be made, as the user can act on it."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            f"the broker's certificate is not trusted: {error.verify_message}; for a broker "
            "with its own certificate authority, set SSL_CERT_FILE to the CA's certificate"
        )
    if isinstance(error, ssl.SSLError):
        return f"TLS failed: {error.reason or one_line(error)}; is the port a TLS listener?"
    if isinstance(error, ConnectionRefusedError):
        return "nothing answers there"
    if isinstance(error, socket.gaierror):
        return "the name does not resolve"
    if isinstance(error, TimeoutError):
        return "no answer in time"
    if error is None:
        return "nothing answers there, or the name does not resolve"
    return one_line(error)


@dataclass(frozen=True)
class MqttOptions:
    """Where and how readings are published.

    Fields:
        host, port, tls: the broker (`mqtts://` is TLS, default port 8883; else 1883).
        username, password: from the URL's `user:password@`, None when absent.
        prefix: the topic prefix (the URL's path; default "edge-digits").
        device_id: this camera's name in topics (default: the host name).
        discovery: publish Home Assistant's discovery config.
        queue_limit: readings kept while the broker is away.
    """

    host: str
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = None
    prefix: str = DEFAULT_PREFIX
    device_id: str = ""
    discovery: bool = True
    queue_limit: int = QUEUE_LIMIT

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.device_id}"

    @property
    def reading_topic(self) -> str:
        return f"{self.base}/reading"

    @property
    def status_topic(self) -> str:
        return f"{self.base}/status"

    @property
    def node_id(self) -> str:
        """The device id as Home Assistant allows in discovery topics and unique ids."""
        return re.sub(r"[^a-zA-Z0-9_-]", "_", self.device_id)

    @property
    def discovery_topic(self) -> str:
        return f"{DISCOVERY_PREFIX}/sensor/{self.node_id}/reading/config"

    @property
    def address(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_mqtt_url(
    url: str, *, device_id: str | None = None, discovery: bool = True
) -> MqttOptions:
    """`mqtt://[user:password@]host[:port]/topic-prefix` (or `mqtts://`) -> MqttOptions;
    UsageError says what is allowed. `device_id` None: the host name."""
    usage = (
        f"--mqtt {_hide_password(url)}: give mqtt://[user:password@]host[:port]/topic-prefix "
        "(mqtts:// for TLS), e.g. mqtt://localhost/edge-digits"
    )
    if "#" in url.rpartition("@")[2]:  # a fragment to urlsplit: a wildcard to MQTT
        raise UsageError("--mqtt: the topic prefix may not hold +, # or empty levels")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise UsageError(usage) from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise UsageError(usage)
    if parts.query or parts.fragment:
        raise UsageError(usage)
    prefix = parts.path.strip("/") or DEFAULT_PREFIX
    if any(wild in prefix for wild in "+#") or "//" in prefix:
        raise UsageError(f"--mqtt: the topic prefix {prefix!r} may not hold +, # or empty levels")
    device = socket.gethostname() if device_id is None else device_id
    if not device or any(bad in device for bad in "+#/") or device != device.strip():
        raise UsageError(
            f"--device-id {device!r}: give a name without /, + or # (it is one topic level), "
            "e.g. kitchen-meter"
        )
    tls = parts.scheme == "mqtts"
    return MqttOptions(
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        prefix=prefix,
        device_id=device,
        discovery=discovery,
    )


def _hide_password(url: str) -> str:
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)


def discovery_config(options: MqttOptions, *, number: bool = False) -> dict[str, Any]:
    """Home Assistant's MQTT discovery payload for the reading: one sensor entity whose state
    is the digit (or the number's text), with the whole record as its attributes and the
    status topic as its availability."""
    from ..core.interpreter import installed_version

    field = "text" if number else "label"
    return {
        "name": "Reading",
        "unique_id": f"edge_digits_{options.node_id}_reading",
        "state_topic": options.reading_topic,
        "value_template": f"{{{{ value_json.{field} }}}}",
        "json_attributes_topic": options.reading_topic,
        "availability_topic": options.status_topic,
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "icon": "mdi:numeric",
        "qos": 1,
        "device": {
            "identifiers": [f"edge_digits_{options.node_id}"],
            "name": f"edge-digits {options.device_id}",
            "manufacturer": "edge-digits",
            "model": "camera",
            "sw_version": installed_version("edge-digits") or "unknown",
        },
    }


def _paho() -> Any:
    try:
        import paho.mqtt.client as client
    except ImportError:
        raise MissingDependencyError(
            f"--mqtt needs paho-mqtt, which is not installed; run: {MQTT_EXTRA}"
        ) from None
    return client


class MqttPublisher:
    """A camera sink publishing each reading to a broker; see the module's docstring.

    `warn` gets the outage lines (default: an EdgeDigitsWarning); `clock` is for tests."""

    def __init__(
        self,
        options: MqttOptions,
        *,
        number: bool = False,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        mqtt = _paho()
        self.options = options
        self.number = number
        self._warn = warn or (lambda line: warnings.warn(line, EdgeDigitsWarning, stacklevel=2))
        self._lock = threading.Lock()
        self._queue: deque[bytes] = deque()
        self._connected = False
        self._outage_since: float | None = time.monotonic()  # until the first connection
        self._outage_said = False
        self._first = True
        self.published = 0
        self.dropped = 0
        self._last: Any = None  # the MQTTMessageInfo of the latest publish
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"edge-digits-{options.node_id}-{os.getpid()}",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        if options.username is not None:
            client.username_pw_set(options.username, options.password)
        if options.tls:
            client.tls_set()
        client.will_set(options.status_topic, OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN, RECONNECT_MAX)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        self._client: paho.Client = client
        client.connect_async(options.host, options.port, keepalive=KEEPALIVE)
        client.loop_start()

    # -- the camera side -------------------------------------------------------------------

    def frame(self, result: FrameResult, fps: float, reading: Reading | None) -> None:
        pass

    def reading(self, reading: Reading) -> None:
        payload = json.dumps(camera_record(reading, number=self.number)).encode()
        with self._lock:
            if self._connected and not self._queue:
                self._publish(payload)
                return
            if len(self._queue) >= self.options.queue_limit:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(payload)

    def close(self) -> None:
        """Send what is queued if the broker is there, say offline, disconnect."""
        deadline = time.monotonic() + CLOSE_TIMEOUT
        # A short run (a video file) can end while the first connection (a TLS handshake) is
        # still under way: wait for it, or for the outage it turns into, then flush.
        while time.monotonic() < deadline:
            with self._lock:
                if self._connected or self._outage_said:
                    break
            time.sleep(0.01)
        with self._lock:
            connected = self._connected
            last = self._last
        if connected:
            if last is not None:
                # paho resends an unacknowledged message itself after a reconnection.
                while not last.is_published() and time.monotonic() < deadline:
                    time.sleep(0.01)
            info = self._client.publish(self.options.status_topic, OFFLINE, qos=1, retain=True)
            while not info.is_published() and self._connected and time.monotonic() < deadline:
                time.sleep(0.01)
        with self._lock:
            unsent = len(self._queue)
        self._client.disconnect()
        self._client.loop_stop()
        if unsent or self.dropped:
            self._warn(
                f"mqtt: {unsent} readings were never sent to {self.options.address} and "
                f"{self.dropped} were dropped (the broker was away; the queue holds "
                f"{self.options.queue_limit})"
            )

    # -- paho's network thread -------------------------------------------------------------

    def _publish(self, payload: bytes) -> None:
        """Publish one reading (the lock is held)."""
        self._last = self._client.publish(self.options.reading_topic, payload, qos=1, retain=True)
        self.published += 1

    def _on_connect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self._outage(f"the broker refused the connection ({reason}); check --mqtt's "
                         "user and password and the broker's access rules")  # fmt: skip
            return
        client.publish(self.options.status_topic, ONLINE, qos=1, retain=True)
        if self.options.discovery and self._first:
            config = discovery_config(self.options, number=self.number)
            client.publish(self.options.discovery_topic, json.dumps(config), qos=1, retain=True)
        self._first = False
        with self._lock:
            sent = len(self._queue)
            while self._queue:
                self._publish(self._queue.popleft())
            self._connected = True
            since, said, dropped = self._outage_since, self._outage_said, self.dropped
            self._outage_since, self._outage_said = None, False
        if said and since is not None:
            self._warn(
                f"mqtt: connected again to {self.options.address} after "
                f"{time.monotonic() - since:.1f} s; {sent} queued readings sent, "
                f"{dropped} dropped so far"
            )

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        with self._lock:
            self._connected = False
        if reason.value != 0:  # not our own disconnect()
            self._outage(f"the connection was lost ({reason})")

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        # paho calls this while handling the connection's OSError: the cause is at hand.
        self._outage(f"cannot connect ({_why_not(sys.exc_info()[1])})")

    def _outage(self, why: str) -> None:
        """Say once per outage that the broker is away."""
        with self._lock:
            self._connected = False
            if self._outage_since is None:
                self._outage_since = time.monotonic()
            if self._outage_said:
                return
            self._outage_said = True
        self._warn(
            f"mqtt: {self.options.address}: {why}; the camera keeps reading, readings are "
            f"queued (the latest {self.options.queue_limit}) and sent when it is back"
        )
