"""One lifecycle for every command (run, replay, hunt, load): see lifecycle.py."""

from harness.session.lifecycle import Context, Driver, Outcome, Start, run_session
from harness.session.options import SessionOptions

__all__ = ["Context", "Driver", "Outcome", "SessionOptions", "Start", "run_session"]
