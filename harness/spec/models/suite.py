"""suite.yaml: name, defaults, environment, and how to start and reach the agent."""

from typing import Annotated, Literal

from pydantic import ByteSize, Field, model_validator

from harness.empty import empty_dict, empty_list
from harness.spec.load import LoadSection
from harness.spec.models.agents import HttpAdapter, OpenAIAdapter, PythonAdapter
from harness.spec.models.base import FileModel, Model, Slug
from harness.spec.models.dependencies import Dependency
from harness.spec.models.faults import FaultsSection
from harness.spec.models.services import Latency


class HealthCheck(Model):
    url: str
    timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    interval: Annotated[float, Field(gt=0, le=10)] = 0.05


class AgentProcess(Model):
    """How the harness starts the agent as its own process, as it runs in production."""

    command: Annotated[list[str], Field(min_length=1)]
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=empty_dict)
    health: HealthCheck | None = None
    stop_timeout: Annotated[float, Field(gt=0, le=120)] = 5.0


class AgentConfig(Model):
    process: AgentProcess | None = None
    health: HealthCheck | None = Field(
        default=None,
        description="For an agent the harness does not start: wait for this URL before any case.",
    )
    http: HttpAdapter | None = None
    openai: OpenAIAdapter | None = None
    python: PythonAdapter | None = None
    version: str | None = Field(
        default=None,
        description="The agent's version, recorded with every run and shown in the sign-off; "
        "a template, e.g. '{{ env.AGENT_VERSION }}'. An agent the harness starts from a git "
        "checkout also has its commit recorded.",
    )

    @model_validator(mode="after")
    def _one_adapter(self) -> "AgentConfig":
        given = [k for k in ("http", "openai", "python") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "the agent needs exactly one adapter: http, openai or python"
                + (f" (found: {', '.join(given)})" if given else "")
            )
        return self


class Traces(Model):
    """How long a case waits for the agent's late spans, when the run traces (a span check,
    or a service matched by traceparent)."""

    settle: Latency = Field(
        default=0.3,
        description="Seconds with no new span at all before a case's trace is taken as whole "
        "(250ms, 1s); above the exporter's batch delay (the harness sets 100ms for an agent it "
        "starts). A trace is whole sooner once every turn's root span and its parents are in.",
    )
    timeout: Latency = Field(default=3.0, description="Seconds a case waits for spans at most.")


class Environment(Model):
    dependencies: dict[Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")], Dependency] = Field(
        default_factory=empty_dict
    )
    provider: Literal["auto", "docker", "embedded", "external"] | None = Field(
        default=None,
        description="How dependencies come up; --deps and HARNESS_DEPS override it (default auto).",
    )
    agent: AgentConfig
    traces: Traces = Field(default_factory=Traces)
    secrets: list[str] = Field(
        default_factory=empty_list,
        description="Values never written to a run folder, its logs or its reports (masked as "
        "***), e.g. '{{ env.PARTNER_KEY }}' or '{{ deps.db.password }}'. Passwords, "
        "secret-named variables and headers (Authorization, *-Api-Key, *Token*, Cookie) "
        "are masked without being listed.",
    )


class Defaults(Model):
    seed: int = 0
    concurrency: Annotated[int, Field(ge=1, le=1024)] = 4
    case_timeout: Annotated[float, Field(gt=0)] = 120.0
    trials: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=1,
        description="Times every case runs (fresh setup rows each time); --trials, "
        "HARNESS_TRIALS and [tool.harness] trials override it. pass^k needs k trials.",
    )


class SuiteFile(FileModel):
    name: Slug
    description: str | None = None
    extends: str | None = Field(
        default=None,
        description="A suite folder (relative to this one) whose spec, scenarios, invariants, "
        "dependencies and load profiles this suite uses: the same agent through another "
        "interface, judged by the same checks. Its own scenarios/ add to them.",
    )
    defaults: Defaults = Field(default_factory=Defaults)
    environment: Environment
    load: LoadSection | None = Field(
        default=None, description="Load profiles for harness load (see harness/spec/load.py)."
    )
    faults: FaultsSection = Field(
        default_factory=FaultsSection,
        description="Fault profiles: harness run --faults NAME plays every case clean and "
        "faulted, in alternating phases, and reports R_fault per requirement.",
    )
    filler: dict[
        Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")],
        Annotated[list[Annotated[str, Field(min_length=1, max_length=2000)]], Field(min_length=1)],
    ] = Field(
        default_factory=empty_dict,
        description="Drift filler: lines by pool name. A harness pool's name (small_talk, "
        "unrelated, policy_questions, rephrasings, topic_switches, corrections, distractors) "
        "adds to it; another name is a new pool. Lines are plain text or templates over "
        "params only: filler never touches a case's facts.",
    )
    max_file_size: ByteSize | None = Field(
        default=None,
        description="The largest suite file read (e.g. 16MB; default 4MB): a larger one is "
        "refused before it is parsed. HARNESS_MAX_FILE_SIZE overrides it.",
    )
