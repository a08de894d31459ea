"""Child processes for the lab's clients: started, watched and always ended.

Each client runs in its own process group (``start_new_session``), so
``close()`` ends the client and anything it spawned at once. When started
from the main thread the child also gets ``PR_SET_PDEATHSIG`` (Linux
``prctl(2)``): it is killed if the test process dies without cleaning up.
(The signal follows the *thread* that forked, so a child started from a
worker thread, whose thread may end first, relies on :func:`atexit` and the
owner's ``close()`` instead.)

Waits poll the client's own state (RPC, ``/proc/net/tcp``) with a deadline;
the pause between two polls is ``Popen.wait(timeout)``, which also notices
a client that exits early.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

__all__ = ["ChildProcess", "LabError", "answers_handshake", "free_port", "listening", "tool"]

T = TypeVar("T")

PR_SET_PDEATHSIG = 1
POLL_INTERVAL = 0.05
STOP_TIMEOUT = 10.0

_live: set[ChildProcess] = set()
_live_lock = threading.Lock()


class LabError(RuntimeError):
    """A lab client could not start, or did not reach the state waited for."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """``preexec_fn``: ask the kernel to SIGKILL this child when its parent thread ends."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class ChildProcess:
    """One client process in its own group; output goes to ``log`` (a file)."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str,
        log: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        stdin: int | None = subprocess.DEVNULL,
        stdout_pipe: bool = False,
        client_log: Path | None = None,
    ) -> None:
        self.name = name
        self.log = log
        #: A log file the client writes itself, quoted in errors after its output.
        self.client_log = client_log
        main_thread = threading.current_thread() is threading.main_thread()
        with log.open("ab") as output:
            self.popen = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=None if env is None else {**os.environ, **env},
                stdin=stdin,
                stdout=subprocess.PIPE if stdout_pipe else output,
                stderr=output,
                start_new_session=True,
                preexec_fn=_die_with_parent if main_thread else None,
            )
        with _live_lock:
            _live.add(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, limit: int = 2000) -> str:
        """The end of what the client wrote (output, then its own log), for error messages."""
        texts = []
        for path in (self.log, self.client_log):
            try:
                texts.append(path.read_bytes()[-limit:].decode(errors="replace").strip())
            except (OSError, AttributeError):
                continue
        return " | ".join(text for text in texts if text)

    def check_alive(self) -> None:
        """Raise :class:`LabError` with the client's last words if it has exited."""
        code = self.popen.poll()
        if code is not None:
            raise LabError(f"{self.name} exited with code {code}: {self.log_tail()}")

    def pause(self, seconds: float = POLL_INTERVAL) -> None:
        """Wait ``seconds`` between two polls, or less if the client exits (then raise)."""
        try:
            self.popen.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return
        self.check_alive()

    def wait_for(self, probe: Callable[[], T | None], *, timeout: float, what: str) -> T:
        """Poll ``probe`` until it returns something other than None; its result.

        Raises :class:`LabError` naming ``what`` when ``timeout`` seconds pass
        or the client exits first.
        """
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            result = probe()
            if result is not None:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LabError(
                    f"{self.name}: {what} not reached within {timeout} s; log: {self.log_tail()}"
                )
            self.pause(min(POLL_INTERVAL, remaining))

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the process group, wait; SIGKILL it if it lingers. Idempotent."""
        with _live_lock:
            _live.discard(self)
        if self.popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        # Whatever the client spawned in its group goes too.
        self._signal_group(signal.SIGKILL)
        self.popen.wait()
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                stream.close()

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)


@atexit.register
def _stop_all() -> None:
    """At interpreter exit, end every client still running (a test forgot to close)."""
    with _live_lock:
        left = list(_live)
    for child in left:
        child.stop(timeout=2.0)


def tool(name: str) -> str:
    """The path of an installed program, or :class:`LabError` naming what installs it."""
    path = shutil.which(name)
    if path is None:
        raise LabError(f"{name} is not installed: .ci/run installs it")
    return path


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port that is free on ``host`` now (TCP, or UDP with ``SOCK_DGRAM``).

    For clients that cannot be told to bind port 0 and report it. Another
    process may take it before the client binds: the launch then fails with
    the client's own message, never silently.
    """
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def listening(host: str, port: int) -> bool:
    """True if a TCP socket listens on ``host:port`` (or on 0.0.0.0:port).

    Read from ``/proc/net/tcp`` rather than by connecting: a probe
    connection would be a peer that hangs up at once, which some clients
    remember against the address.
    """
    wanted = {_proc_address(host, port), _proc_address("0.0.0.0", port)}
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:  # not Linux: fall back to a connection attempt
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            return False
    for line in lines:
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A" and fields[1] in wanted:  # 0A: LISTEN
            return True
    return False


#: Source address of handshake probes: not the leechers' 127.0.0.1, so a client that
#: refuses a second connection from one address (Transmission) never confuses the two.
PROBE_SOURCE = "127.0.0.254"
PROTOCOL = b"\x13BitTorrent protocol"


def answers_handshake(endpoint: tuple[str, int], infohash: bytes) -> bool:
    """True if the client at ``endpoint`` answers a BEP 3 handshake for ``infohash``.

    A client may listen, and report the torrent as seeding, before it takes
    peers for it (qBittorrent 4.5 resets connections for about a second
    after its API says "stalledUP"): this asks the client itself. The probe
    connects from :data:`PROBE_SOURCE`, sends the 68-byte handshake
    (protocol string, 8 reserved bytes, infohash, peer id) and reads the
    answer's first 48 bytes, whose last 20 must be the infohash; then hangs up.
    """
    probe = PROTOCOL + bytes(8) + infohash + b"-LB0001-" + os.urandom(12)
    try:
        with socket.create_connection(endpoint, timeout=2, source_address=(PROBE_SOURCE, 0)) as c:
            c.sendall(probe)
            answer = b""
            while len(answer) < 48:
                chunk = c.recv(48 - len(answer))
                if not chunk:
                    return False
                answer += chunk
    except OSError:
        return False
    return answer.startswith(PROTOCOL) and answer[28:48] == infohash


def _proc_address(host: str, port: int) -> str:
    """``host:port`` as ``/proc/net/tcp`` writes it (little-endian hex address)."""
    packed = ipaddress.IPv4Address(host).packed
    return f"{int.from_bytes(packed, 'little'):08X}:{port:04X}"
