"""Which of a load's conversations the agent process's death failed, and how they say so (as
`harness run`'s WatchedAgent does): a refused connection after a crash, a turn sent after it,
or a conversation answered but judged after the death while its trace was settling (its last
spans died with the agent), is no finding about load."""

from __future__ import annotations

from harness.agents.process import AgentProcessRunner
from harness.core import Failure, FailureKind, Observation


async def exit_to_blame(obs: Observation, agent: AgentProcessRunner) -> int | None:
    """The agent's exit code when its death failed this conversation, else None."""
    failed = [t.error for t in obs.turns if t.error is not None]
    code = agent.exit_code
    if not failed:
        # answered, but judged after the agent died while its trace was still settling: the
        # exporter's last batch (some or all of its spans) died with it, so its trace cannot
        # be judged (a live agent's missing spans are its own)
        return code if obs.trace_id is not None else None
    if code is None and any(e.kind is FailureKind.CONNECTION for e in failed):
        code = await agent.wait_exit(0.5)  # a refused connection: did it just die?
    return code


def blame(obs: Observation, at: list[float], code: int, died_at: float) -> bool:
    """Say in the conversation's errors that the agent's exit caused them; whether any did.
    A turn failed by a broken connection or sent after the death is the crash's; with no
    failed turn (its trace cut short), the conversation's error says so."""
    if not any(t.error is not None for t in obs.turns):
        obs.error = Failure(
            FailureKind.AGENT_EXITED,
            "answered, but the agent died before its spans were all in, so its trace cannot "
            f"be judged (the agent process had exited with code {code})",
        )
        return True
    blamed = False
    for i, turn in enumerate(obs.turns):
        if turn.error is None or turn.error.kind is FailureKind.AGENT_EXITED:
            continue
        sent = at[i] if i < len(at) else died_at
        if turn.error.kind is FailureKind.CONNECTION or sent >= died_at:
            turn.error = turn.error.with_message(
                f"{turn.error.message} (the agent process had exited with code {code})",
                FailureKind.AGENT_EXITED,
            )
            blamed = True
            if obs.error is not None and obs.error.turn == turn.index:
                obs.error = turn.error.at(turn=turn.index)
    return blamed
