"""The process-wide capture state: the configured sink, content settings, and session step numbers.

Like OpenTelemetry's global tracer provider, ``tokenomy.instrument`` and ``tokenomy.context``
need one place per process that says where captured events go; this module holds it (the one
module-level object of the capture package, :data:`RUNTIME`). Everything below it (the sink,
the targets, the call builder) receives what it needs as arguments.

With no configuration nothing is recorded: instrumented clients check for a sink and call
straight through. ``tokenomy.configure()`` (or ``TOKENOMY_SINK`` / ``sink`` in tokenomy.toml,
read when a client is instrumented) installs one. Sinks are shut down at exit (atexit), and
in a forked child every lock is renewed and every sink starts empty (``os.register_at_fork``).
Before the exit shuts them down, every call still open (a stream or raw response the program left
half read and still holds) is recorded as abandoned, with what was read (:attr:`Runtime.open_calls`).
A child of ``multiprocessing`` (a ``Pool``'s worker, a ``Process``) started by ``fork`` or
``forkserver`` ends with ``os._exit``, which skips atexit: there its sinks are shut down by a
finalizer of ``multiprocessing`` instead (:func:`_hook_multiprocessing`).
"""

from __future__ import annotations

import atexit
import importlib
import os
import signal
import sys
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from tokenomy import config as config_module
from tokenomy.capture.log import RateLimitedLog, brief
from tokenomy.capture.redaction import checked, load_hook
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.sink.settings import SinkSettings, settings_from_config, spool_for, target_for
from tokenomy.capture.sink.stats import SinkStats
from tokenomy.capture.sink.targets import leave_stores_open
from tokenomy.errors import ConfigError

if TYPE_CHECKING:
    from tokenomy.capture.shapes import ShapeMemo

Redact = Callable[[str], str]
"""A content hook: takes prompt or completion text, returns what may leave the process."""

_SESSION_LIMIT: Final = 100_000
PRELOAD_THREAD: Final = "tokenomy-preload"
FORK_WAIT: Final = 10.0
"""Seconds a fork waits, at most, for the loading of the builder and tokenizer to finish."""
EXIT_PRIORITY: Final = 5
"""The priority of the sinks' shutdown among a ``multiprocessing`` child's exit finalizers (those of
priority 0 or more run first, the highest first)."""


@dataclass(frozen=True, slots=True)
class ContentSettings:
    """The process's content settings, replaced whole by each ``configure``.

    A call is built into a record later, on the sink's thread, perhaps after another ``configure``;
    so the caller's path keeps the object in force when the call was made (one attribute read,
    :class:`tokenomy.capture.captured.Captured`), and text captured under a redaction hook never
    leaves without it.

    Attributes:
        capture_content: Keep prompt and completion text.
        redact: Applied to captured text before it leaves the process.
    """

    capture_content: bool = False
    redact: Redact | None = None


class SessionSteps:
    """Numbers the calls of each session 1, 2, 3... (the sessions used most recently are remembered:
    a long-running session that keeps making calls is never forgotten for newer ones)."""

    def __init__(self, limit: int = _SESSION_LIMIT) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._last: OrderedDict[str, int] = OrderedDict()

    def open(self, session: str) -> None:
        """Remember a session (so that :meth:`knows` is True) without numbering a call."""
        with self._lock:
            self._remember(session, self._last.get(session, 0))

    def take(self, session: str) -> int:
        """The next step of ``session``."""
        with self._lock:
            step = self._last.get(session, 0) + 1
            self._remember(session, step)
            return step

    def knows(self, session: str) -> bool:
        """True when this process opened or numbered ``session`` recently."""
        return session in self._last

    def after_fork(self) -> None:
        """A new lock in a forked child (the parent's may have been held when it forked)."""
        self._lock = threading.Lock()

    def _remember(self, session: str, step: int) -> None:
        self._last[session] = step
        self._last.move_to_end(session)  # the order is of last use, and the first goes
        if len(self._last) > self._limit:
            self._last.popitem(last=False)


class Runtime:
    """The capture state of this process (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.sink: Sink | None = None
        self._stopped: Sink | None = None
        """The process's sink that the last ``shutdown`` stopped: its counters stay readable."""
        self.content = ContentSettings()
        self.steps = SessionSteps()
        self.log = RateLimitedLog()
        self._sinks: weakref.WeakSet[Sink] = weakref.WeakSet()
        self.open_calls: dict[weakref.ref[Any], Callable[[Any], object]] = {}
        """The calls still being read (streams, raw responses): a weak reference to an object that
        knows the call (a stream, a watcher), and the function that records the call from it at exit.
        Held weakly, so that a stream dropped half read is still recorded when it is freed. A
        watcher adds its call when it is made and takes it out when it records it (a dictionary
        store and a pop on the caller's path, keyed by a weak reference the watcher holds anyway)."""
        self._config_read = False
        self._exit_hook = False
        self._hooked_multiprocessing = False
        self._exited_in = 0
        """The process whose exit shut the sinks down (atexit and a finalizer may both run)."""
        self._pending_signal = 0
        """A SIGTERM that came while the exit shut the sinks down: it ends the process right after."""
        self._forked = False
        self._preloaded = False
        self._loaded = threading.Event()
        self._load_ok = False
        self._shapes: ShapeMemo | None = None

    def configure(
        self,
        sink: str | Sink | None = None,
        *,
        capture_content: bool | None = None,
        redact: Redact | None = None,
        settings: SinkSettings | None = None,
        config: config_module.Config | None = None,
        service_name: str = "unknown_service:python",
    ) -> Sink:
        """Install the process's sink (replacing, after a flush, the one installed before).

        Args:
            sink: A sink URL, a :class:`Sink`, or None for the configured one (``duckdb:`` if none).
            capture_content: Keep prompt and completion text (None: the config's setting).
            redact: Applied to captured text before it leaves the process (None: the config's
                ``redact``, ``MODULE:FUNCTION``, loaded here).
            settings: Queue, batch and spool settings (None: from the config).
            config: The resolved configuration (None: :func:`tokenomy.config.load`).
            service_name: ``service.name`` of the OTLP target's spans.

        Raises:
            ConfigError: The sink URL or a setting is invalid, or the config's ``redact`` cannot be
                loaded.
        """
        config = config or config_module.load()
        if redact is None and config.redact:
            # loaded whether or not content is kept process-wide: a client may keep it itself
            redact = load_hook(config.redact)
        if isinstance(sink, Sink):
            chosen = sink
        else:
            url = sink or config.sink or "duckdb:"
            settings = settings or settings_from_config(config)
            target = target_for(url, config, service_name=service_name, timeout=settings.send_timeout)
            chosen = Sink(target, settings, spool=spool_for(target, settings))
        with self._lock:
            previous, self.sink, self._stopped = self.sink, chosen, None
            keep = config.capture_content if capture_content is None else capture_content
            self.content = ContentSettings(keep, checked(redact))
            self._config_read = True
            self._sinks.add(chosen)
            self._register_exit()
        self.preload()
        if previous is not None and previous is not chosen:
            previous.shutdown(previous.settings.exit_timeout)
        return chosen

    def configure_from_environment(self) -> None:
        """Install the sink that ``TOKENOMY_SINK`` or tokenomy.toml names, once, if any."""
        with self._lock:
            if self._config_read:
                return
            self._config_read = True
        config = config_module.load()
        if config.sink is not None and self.sink is None:
            try:
                self.configure(config.sink, config=config)
            except ConfigError as exc:
                if not str(exc).startswith(f"sink {config.sink!r}"):  # another setting: its message names it
                    raise
                # the sink's value itself: say where it came from, since nothing in the code names it
                named = (
                    "TOKENOMY_SINK"
                    if os.environ.get("TOKENOMY_SINK") == config.sink
                    else "the configuration file's sink"
                )
                raise ConfigError(f"{named}: {exc}") from exc

    def preload(self) -> None:
        """Load the call builder and the tokenizer in a background thread, once, well before they are needed.

        The builder's imports (the usage adapters, the importers' prompt shape, Arrow and DuckDB) and
        the tokenizer that counts every prompt's shape (``o200k_base``, OpenAI's current models' and the
        basis of the other families' estimates: reading its ranks, then building tiktoken's core, which
        holds the GIL throughout, 0.1-0.2 s) take 0.5-1 s. Done on the sink's first batch, they stalled
        the application's threads mid-traffic, about a second after its first call, and that batch may
        come at interpreter exit, when some of those modules can no longer be imported. Started here
        (by ``configure`` and ``instrument``), they are done within a second of it; :meth:`warm_up`
        waits for them, for an application that wants them done before its traffic starts.
        """
        with self._lock:
            if self._preloaded:
                return
            self._preloaded = True
        threading.Thread(target=self._load, name=PRELOAD_THREAD, daemon=True).start()

    def _load(self) -> None:
        try:
            importlib.import_module("tokenomy.capture.build")
            from tokenomy import tokens  # noqa: PLC0415  (loaded by the builder just above)

            tokens.get_encoding(tokens.O200K)
            self._load_ok = True
        except Exception as exc:  # reported, and retried by the sink's first batch
            self.log.note(
                "preload", f"tokenomy capture: could not load the call builder or tokenizer ({brief(exc)})"
            )
        finally:
            self._loaded.set()

    def warm_up(self, timeout: float | None = None) -> bool:
        """Start :meth:`preload` if it has not started, and wait for it; True when all was loaded."""
        self.preload()
        return self._loaded.wait(timeout) and self._load_ok

    def shape_memo(self) -> ShapeMemo:
        """The process's memo of prompt shapes (made on first use, on the sink's thread)."""
        memo = self._shapes
        if memo is None:
            from tokenomy.capture.shapes import ShapeMemo  # noqa: PLC0415  (the tokenizer: sink's thread)

            memo = self._shapes = ShapeMemo()
        return memo

    def track(self, sink: Sink) -> None:
        """Flush ``sink`` at exit and renew it after a fork (sinks given to ``instrument``)."""
        with self._lock:
            self._sinks.add(sink)
            self._register_exit()

    def flush(self, timeout: float | None = None) -> bool:
        """Flush every known sink; True when all of them delivered everything."""
        results = [sink.flush(timeout) for sink in list(self._sinks)]
        return all(results)

    def shutdown(self, timeout: float | None = None) -> None:
        """Shut every known sink down (flushing first); nothing is recorded afterwards."""
        with self._lock:
            sinks, self._stopped, self.sink = list(self._sinks), self.sink or self._stopped, None
        replay = self._owns_spool()
        for sink in sinks:
            sink.shutdown(timeout, replay_spool=replay)

    def stats(self) -> SinkStats:
        """The counters of the process's sink; after a ``shutdown``, those of the sink it stopped (what it
        delivered, spooled or dropped on the way out), until the next ``configure``; zeros when none was
        configured."""
        sink = self.sink or self._stopped
        return sink.stats() if sink is not None else SinkStats()

    def before_fork(self) -> None:
        """Before a fork: let a loading still under way finish first (at most :data:`FORK_WAIT` s).

        The loading thread spends most of its time inside imports (the builder, Arrow, DuckDB, the
        tokenizer), holding Python's lock on each module being imported; a child forked then inherits
        those locks held by a thread it does not have, and hangs on its first import of the same
        module (a server that configures capture and then forks its workers)."""
        loading = self._preloaded and not self._loaded.is_set()  # once set, its lock is left alone
        if loading and threading.current_thread().name != PRELOAD_THREAD:
            self._loaded.wait(FORK_WAIT)
        if self._exit_hook:  # a sink was tracked before multiprocessing was imported: hook it now
            _hook_multiprocessing(self)

    def after_fork(self) -> None:
        """In a forked child: new locks, and every sink empty and without a thread."""
        self._lock = threading.RLock()
        self._forked = True
        self.steps.after_fork()
        self.log.after_fork()
        self.open_calls.clear()  # the parent's: recorded by the parent
        self._shapes = None
        self._renew_loaded()
        for sink in list(self._sinks):
            sink.after_fork()

    def _renew_loaded(self) -> None:
        """In a forked child: a new event for the loading, set when the parent's loading had ended.

        The parent's event cannot be kept even when set: its lock may have been held at the fork
        (the loading thread inside ``set()``, another thread inside :meth:`warm_up`'s wait), and the
        child's first ``warm_up`` would wait on it forever. When the loading had not ended, the
        parent's thread did not come along: the child loads afresh."""
        loaded, self._loaded = self._loaded.is_set(), threading.Event()
        if loaded:
            self._loaded.set()
        else:
            self._preloaded = self._load_ok = False

    def _register_exit(self) -> None:
        if not self._exit_hook:
            self._exit_hook = True
            # DuckDB first (about 0.1 s, once): importing it registers an exit handler of its own
            # (nanobind's), after which DuckDB 2.0.1 refuses to read the batches' Arrow tables ("the
            # Python interpreter is shutting down"). Exit handlers run last registered first, so
            # this one, registered after DuckDB's, writes the last batch before it runs.
            import duckdb  # noqa: F401, PLC0415

            atexit.register(self._at_exit)
            _hook_multiprocessing(self, now=True)

    def _at_exit(self) -> None:
        if self._exited_in == os.getpid():
            return
        self._exited_in = os.getpid()
        try:
            self._record_open_calls()
            replay = self._owns_spool()
            if not replay:  # a child: it ends right after, its batches committed or spooled
                leave_stores_open()
            for sink in list(self._sinks):
                sink.shutdown(sink.settings.exit_timeout, replay_spool=replay)
        finally:
            self._exit_done()

    def _record_open_calls(self) -> None:
        """At exit, before the sinks shut down: record every call still being read (a stream left
        half read in a global, say, freed only once the interpreter tears down, after the sinks have
        stopped) as abandoned, with what was read so far."""
        for ref, record in list(self.open_calls.items()):
            found = ref()
            if found is None:
                continue
            try:
                record(found)
            except Exception as exc:  # one odd call must not keep the others or the sinks' shutdown
                self.log.note(
                    "capture", f"tokenomy capture: could not record an open call at exit ({brief(exc)})"
                )
        self.open_calls.clear()

    def _owns_spool(self) -> bool:
        """Whether this process's shutdown replays what waits in the spool though it recorded nothing.

        The process that started the work does (the parent of a ``Pool``, whose workers leave their
        batches in the spool when another process holds the store); a forked child (a server's
        worker) and a child of ``multiprocessing`` do not: they end at once, and a target that
        hangs does not hold up each one's exit.
        """
        if self._forked:
            return False
        processes = sys.modules.get("multiprocessing")
        return processes is None or processes.parent_process() is None

    def _exit_done(self) -> None:
        """After the exit's shutdown, on the main thread: SIGTERM does what it does by default again
        (a child stuck later in its exit can still be terminated), and one that came meanwhile ends
        the process now."""
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is _shut_down_then_end:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        pending, self._pending_signal = self._pending_signal, 0
        if pending:
            os.kill(os.getpid(), pending)


RUNTIME: Final = Runtime()
"""The capture state of this process."""


def _hook_multiprocessing(runtime: Runtime, *, now: bool = False) -> None:
    """Shut ``runtime``'s sinks down at the end of each ``multiprocessing`` child, once that module
    is in use (never imported for it).

    Such a child clears the finalizers it inherits, then calls the functions registered with
    ``register_after_fork``: the one registered here adds the finalizer that its exit runs before
    ``os._exit``. With ``now``, inside a child already running its target (``configure`` called in
    a task) or being prepared by ``spawn`` or ``forkserver`` (``configure`` run as the main module
    is imported again; a ``spawn`` child runs no after-fork functions), the finalizer is added at
    once as well. A ``Pool`` ended by ``terminate()`` (what its ``with`` block does) ends its
    workers by SIGTERM: a child whose SIGTERM does what it does by default shuts its sinks down
    first (:func:`_shut_down_then_end`).
    """
    util = sys.modules.get("multiprocessing.util")
    if util is None:
        return
    if not runtime._hooked_multiprocessing:
        runtime._hooked_multiprocessing = True
        util.register_after_fork(runtime, _finalize_at_exit)
    if not now:
        return
    processes = sys.modules["multiprocessing"]
    if processes.parent_process() is not None or getattr(processes.current_process(), "_inheriting", False):
        _finalize_at_exit(runtime)


def _finalize_at_exit(runtime: Runtime) -> None:
    util = sys.modules["multiprocessing.util"]
    util.Finalize(None, runtime._at_exit, exitpriority=EXIT_PRIORITY)
    main = threading.current_thread() is threading.main_thread()
    if main and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:  # the application's own handler stays
        signal.signal(signal.SIGTERM, _shut_down_then_end)


def _shut_down_then_end(signum: int, frame: object) -> None:
    """SIGTERM in a ``multiprocessing`` child: shut the sinks down, then end by the signal as before.

    The shutdown runs on a thread of its own, waited for at most the sinks' exit timeout (plus a
    second): the signal may have come while this thread was inside a sink, holding its lock. When
    the child's exit is shutting them down already (a ``Pool``'s worker told to stop, then
    terminated), that shutdown ends first and then the signal ends the process
    (:meth:`Runtime._exit_done`). Python runs this handler between two steps of the main thread's
    code: a worker inside one long C call (hashing a large input, say) ends when that call returns,
    where the default action ended it at once.
    """
    if RUNTIME._exited_in == os.getpid():
        RUNTIME._pending_signal = signum
        return
    sinks = list(RUNTIME._sinks)
    wait = max((sink.settings.exit_timeout for sink in sinks), default=0.0) + 1.0
    closing = threading.Thread(target=RUNTIME._at_exit, name="tokenomy-exit", daemon=True)
    closing.start()
    closing.join(wait)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _renew_after_fork() -> None:
    RUNTIME.after_fork()


def _finish_loading() -> None:
    RUNTIME.before_fork()


os.register_at_fork(before=_finish_loading, after_in_child=_renew_after_fork)
