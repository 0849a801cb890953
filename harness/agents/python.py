"""The python adapter: an agent that is a sync or async callable `f(message, session_id)`.

When the run traces, a callable that takes a `traceparent` keyword is given each turn's W3C
`traceparent` (its spans then join the case's trace); one that does not is not traced."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import importlib.util
import inspect
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from harness.agents.base import Plain, Reply
from harness.core.failures import FailureKind
from harness.errors import ConfigError
from harness.numeric import share_with_agent
from harness.spec.models import PythonAdapter


def _extend_path(paths: list[Path]) -> None:
    for p in reversed(paths):
        if str(p) not in sys.path:
            sys.path.insert(0, str(p))


def check_importable(config: PythonAdapter, root: Path) -> None:
    """Fail before any server starts when the agent's module cannot be found at all (the
    module itself is imported later, once the dependencies' URLs are in its environment)."""
    paths = [(root / p).resolve() for p in config.path]
    _extend_path(paths)
    module = config.callable.partition(":")[0]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        searched = ", ".join(str(p) for p in paths) or "(none given)"
        raise ConfigError(
            f"cannot find module {module!r} for the python agent (agent.python.callable)",
            hint=f"add its folder to agent.python.path, relative to the suite; searched first: "
            f"{searched}",
        )


def load_callable(spec: str, paths: list[Path]) -> Callable[..., Any]:
    share_with_agent()  # numpy in this process is now the agent's to set up (harness/numeric.py)
    _extend_path(paths)
    module_name, _, attr = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(
            f"cannot import {module_name!r} for the python agent: {type(exc).__name__}: {exc}",
            hint="check agent.python.callable and agent.python.path in suite.yaml",
        ) from exc
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ConfigError(f"{spec}: {module_name} has no attribute {attr!r}")
    if not callable(obj):
        raise ConfigError(f"{spec} is not callable")
    return obj  # type: ignore[no-any-return]


class PythonAgent:
    name = "python"

    def __init__(self, config: PythonAdapter, root: Path) -> None:
        self.config = config
        self._fn = load_callable(config.callable, [(root / p).resolve() for p in config.path])
        self._is_async = inspect.iscoroutinefunction(self._fn)
        self._traced = _takes_traceparent(self._fn)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def conversation(self, context: dict[str, Any]) -> Plain:
        return Plain(self.send)

    async def send(self, text: str, context: dict[str, Any]) -> Reply:
        session_id = context["case"]["session_id"]
        fn = self._fn
        if self._traced and context.get("traceparent"):
            fn = functools.partial(fn, traceparent=str(context["traceparent"]))
        started = time.perf_counter()
        try:
            if self._is_async:
                result = await asyncio.wait_for(
                    _contained(fn(text, session_id)), self.config.timeout
                )
            else:
                # A hung sync callable keeps its thread; the case still ends at the timeout.
                result = await asyncio.wait_for(
                    in_daemon_thread(fn, text, session_id), self.config.timeout
                )
        except TimeoutError:
            return Reply.failed(
                FailureKind.TIMEOUT, f"timeout: no reply within {self.config.timeout:g} s",
                _ms(started),
            )  # fmt: skip
        except Exception as exc:
            return Reply.failed(
                FailureKind.RAISED,
                f"the agent raised {type(exc).__name__}: {exc}"[:2000],
                _ms(started),
            )
        latency = _ms(started)
        data = None
        if isinstance(result, dict):  # a structured reply: its fields can be judged
            data, result = result, result.get("reply")
        if not isinstance(result, str):
            shown = orjson.dumps(result, default=repr).decode()[:300]
            return Reply.failed(
                FailureKind.MALFORMED, f"malformed reply: expected text, got {shown}", latency
            )
        if len(result.encode("utf-8", errors="replace")) > self.config.max_bytes:
            return Reply.failed(
                FailureKind.TOO_LARGE,
                f"reply exceeds the size cap of {self.config.max_bytes} bytes",
                latency,
            )
        return Reply(result, latency, data=data)


class AgentExited(Exception):
    """The agent's code raised SystemExit or KeyboardInterrupt: its crash, judged as an error
    verdict like any other, never the harness's own exit or interrupt."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(f"{type(exc).__name__}({exc})")
        self.__cause__ = None


async def _contained(coro: Any) -> Any:
    try:
        return await coro
    except (SystemExit, KeyboardInterrupt) as exc:  # raised by the agent's code, not a signal
        raise AgentExited(exc) from None


def in_daemon_thread(fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
    """Run a sync call in a daemon thread: a call that never returns must not keep the
    harness from exiting (asyncio.to_thread's pool threads are joined at shutdown)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.cancelled():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def target() -> None:
        try:
            value = fn(*args)
        except BaseException as exc:  # handed to the awaiting side, which judges it
            error = exc if isinstance(exc, Exception) else AgentExited(exc)
            with contextlib.suppress(RuntimeError):  # the loop may be gone at shutdown
                loop.call_soon_threadsafe(settle, None, error)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, value, None)

    threading.Thread(target=target, name="harness-python-agent", daemon=True).start()
    return future


def _takes_traceparent(fn: Callable[..., Any]) -> bool:
    """Whether the callable takes a keyword named `traceparent`."""
    try:
        param = inspect.signature(fn).parameters.get("traceparent")
    except (TypeError, ValueError):
        return False
    return param is not None and param.kind is not param.POSITIONAL_ONLY


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
