"""The base of every run-log model, and how a stored status is read (older words mapped)."""

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from harness.core.events import Status


class Record(BaseModel):
    """A model's validator is built when it is first used, not when its module is imported:
    a run writes its records as plain data and reads back at most its manifest, so it builds
    few of the run log's models (a record's nests the whole case and observation)."""

    model_config = ConfigDict(extra="allow", defer_build=True)


#: older or hand-written words for how a run ended, read as the closed set's
LEGACY_STATUS = {
    **dict.fromkeys(("complete", "completed", "done", "ok"), Status.FINISHED),
    **dict.fromkeys(("aborted", "cancelled", "canceled", "stopped", "killed"), Status.INTERRUPTED),
    **dict.fromkeys(("error", "errored", "crashed"), Status.FAILED),
}


def legacy_status(value: Any) -> Any:
    """A stored status as the closed set has it: its own words, the older ones mapped, any
    other word a run that did not finish as the harness knows it (failed)."""
    if not isinstance(value, str) or isinstance(value, Status):
        return value
    word = value.strip().lower()
    try:
        return Status(word)
    except ValueError:
        return LEGACY_STATUS.get(word, Status.FAILED)


StoredStatus = Annotated[Status, BeforeValidator(legacy_status)]
