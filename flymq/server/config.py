"""Settings of a front door's listener and its connections (the broker's own settings
live in ``BrokerConfig``)."""

from __future__ import annotations

from dataclasses import dataclass

#: Accepted values of ``ServerConfig.event_loop`` (``flymq.server.listener.loop_factory``).
EVENT_LOOPS = ("auto", "asyncio", "uvloop")
#: The longest busy-poll window: a spin past a tenth of a second saves no wake-up worth it.
MAX_BUSY_POLL_US = 100_000


@dataclass
class ServerConfig:
    """Where the server listens and how much one connection may cost it."""

    host: str = "127.0.0.1"
    """Address to bind; "0.0.0.0" listens on every interface."""
    port: int = 9092
    """TCP port; 0 picks a free one (tests, embedded use)."""
    advertised_address: str | None = None
    """"host:port" that CLUSTER_METADATA reports as partition leader; None = the bound address."""
    node_id: str | None = None
    """Node id in CLUSTER_METADATA; None = this machine's host name (as upstream)."""
    idle_timeout_s: float = 300.0
    """Close a connection that sent nothing for this long (upstream: 5 minutes); 0 = never."""
    max_connections: int = 10_000
    """At this many connections a new one takes the slot of the connection whose incomplete
    frame is oldest; with none incomplete, the new one is closed as soon as it is accepted."""
    max_inflight_bytes_per_connection: int = 4 * 1024 * 1024
    """Unsent reply bytes, and request bytes received but not yet answered (queued frames
    plus the frame being received), above which the server stops reading from that connection
    until it catches up. One frame being received may exceed it on its own (frames are up to
    32 MiB): ``max_buffered_request_bytes`` bounds those."""
    max_queued_requests_per_connection: int = 1024
    """Received but unprocessed requests above which the server stops reading."""
    max_buffered_request_bytes: int = 256 * 1024 * 1024
    """Request bytes received but not yet answered, all connections together. Once reached,
    connections in the middle of a frame stop reading until it falls back (but the oldest
    frame's, so frames complete); connections between frames are still served. Past a
    quarter more, a connection whose read starts a frame is told the server is busy and
    closed."""
    frame_timeout_s: float = 30.0
    """A request frame must arrive whole within this long of its first byte, else the
    connection is closed with an error (a trickle of bytes cannot hold a connection slot);
    0 = no limit."""
    cpu_worker_threads: int = 1
    """Threads for CPU-heavy requests (inflating a compressed frame, a filtered or large
    fetch), so that they never hold up the event loop. Python threads share one interpreter
    lock: each more takes more of it from the event loop (with 4 attackers of each kind on 2
    cores, a well-behaved client's p99 was 14-24 ms with one, 16-92 ms with two)."""
    worker_threads: int = 32
    """Threads for calls that may wait on disk (fsync=always produce, metadata writes); more
    threads let more producers share one group-commit fsync."""
    listen_backlog: int = 1024
    """Pending-accept queue of the listening socket (bursts of new connections)."""
    keepalive_s: int = 30
    """TCP keep-alive idle time in seconds (upstream: 30); 0 disables keep-alive."""
    shutdown_timeout_s: float = 10.0
    """Graceful stop waits this long for in-flight requests before dropping connections."""
    busy_poll_us: int | None = None
    """After each request the event loop keeps polling for this many microseconds before it
    sleeps (flymq.server.busy_poll): a client's next request then finds it awake, which
    saves a wake-up costlier than the request on most virtual machines. While requests keep
    coming closer than this, the loop's thread keeps one core busy; 0 = sleep at once.
    None = 100 when the loop runs in the main thread (``flymq serve``), 0 when it runs in a
    thread beside an application's own (``start_in_thread``), whose threads would wait for
    the interpreter lock while the loop spins."""
    event_loop: str = "auto"
    """Event loop of ``flymq serve`` and ``Server.start_in_thread``: "auto" = uvloop when it
    can be imported (a faster loop: more requests per second per core), else asyncio's own;
    "asyncio"; "uvloop" (an error at start when uvloop is not installed). ``Server.start``
    runs in the caller's loop, whatever it is."""

    def __post_init__(self) -> None:
        if self.event_loop not in EVENT_LOOPS:
            raise ValueError(f"event_loop must be one of {', '.join(EVENT_LOOPS)}; "
                             f"got {self.event_loop!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535; got {self.port}")
        for name in ("max_connections", "max_inflight_bytes_per_connection",
                     "max_queued_requests_per_connection", "max_buffered_request_bytes",
                     "worker_threads", "cpu_worker_threads", "listen_backlog"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive; got {getattr(self, name)}")
        if self.busy_poll_us is not None and not 0 <= self.busy_poll_us <= MAX_BUSY_POLL_US:
            raise ValueError(f"busy_poll_us must be 0..{MAX_BUSY_POLL_US}; got "
                             f"{self.busy_poll_us}")
        for name in ("idle_timeout_s", "frame_timeout_s", "keepalive_s", "shutdown_timeout_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative; got {getattr(self, name)}")
