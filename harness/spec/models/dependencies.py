"""suite.yaml: the dependencies (postgres, redis, any container) and their seed data."""

import re
from typing import Annotated, Literal

from pydantic import Field, Tag, model_validator

from harness.empty import empty_dict, empty_list
from harness.spec.models.base import DependencyBase, Model, by_shape
from harness.spec.models.values import ValueSpec

Identifier = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_$]*$")]
#: one column, or columns whose values together must not repeat
UniqueEntry = Annotated[
    Annotated[Identifier, Tag("text")]
    | Annotated[Annotated[list[Identifier], Field(min_length=1)], Tag("list")],
    by_shape("a column name, or a list of column names", "text", "list"),
]


class TableSeed(Model):
    table: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")]
    count: Annotated[int, Field(ge=0, le=1_000_000)]
    columns: dict[str, ValueSpec]


class SeedData(Model):
    seed: int = 0
    locales: list[str] = Field(default_factory=lambda: ["en_US"])
    tables: list[TableSeed] = Field(default_factory=empty_list)


class PostgresDependency(DependencyBase):
    kind: Literal["postgres"]
    database: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")] = "app"
    schema_files: list[str] = Field(default_factory=empty_list, alias="schema")
    seed: SeedData | None = None
    unique: dict[Identifier, list[UniqueEntry]] = Field(
        default_factory=empty_dict,
        description="Per table, columns (or lists of columns together) whose values must "
        "not repeat although the schema does not enforce it, e.g. names an agent looks "
        "people up by: every trial and variant inserts fresh ones. The schema's own unique "
        "constraints and indexes are known without it.",
    )


class RedisDependency(DependencyBase):
    kind: Literal["redis"]


ContainerPort = (
    Annotated[int, Field(ge=1, le=65535)]
    | Annotated[str, Field(pattern=r"^[0-9]{1,5}(/(tcp|udp))?$")]
)


class HttpWait(Model):
    path: str = "/"
    port: ContainerPort | None = Field(default=None, description="Default: the first port.")
    status: Annotated[int, Field(ge=100, le=599)] = 200


class ContainerWait(Model):
    """When a generic container counts as ready: exactly one of log, port, http, command."""

    log: str | None = Field(default=None, description="A regex its output must match.")
    times: Annotated[int, Field(ge=1)] = Field(default=1, description="Matches needed (log).")
    port: ContainerPort | None = Field(default=None, description="A server answers on it.")
    http: HttpWait | None = None
    command: list[str] | str | None = Field(
        default=None, description="Exits 0 inside it; a string runs through sh -c."
    )
    timeout: Annotated[float, Field(gt=0, le=3600)] | None = Field(
        default=None, description="Seconds; default: the dependency's ready_timeout, else 60."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> "ContainerWait":
        given = [k for k in ("log", "port", "http", "command") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "wait needs exactly one of log, port, http, command "
                f"(found: {', '.join(given) or 'none'})"
            )
        if self.log is not None:
            try:
                re.compile(self.log)
            except re.error as exc:
                raise ValueError(f"wait.log is not a valid regular expression: {exc}") from None
        return self


class VolumeMount(Model):
    host: str = Field(description="A file or folder, relative to the suite folder.")
    container: Annotated[str, Field(pattern=r"^/")]
    mode: Literal["ro", "rw"] = "ro"


class ContainerDependency(DependencyBase):
    """Any other service the agent uses (a compliance API, a broker), as a real image."""

    kind: Literal["container"]
    image: str = Field(min_length=1, description="The image to run (overridable like the others).")
    ports: list[ContainerPort] = Field(
        default_factory=empty_list, description="Container ports, published on 127.0.0.1."
    )
    env: dict[str, str] = Field(default_factory=empty_dict)
    command: list[str] | str | None = None
    volumes: list[VolumeMount] = Field(default_factory=empty_list)
    wait: ContainerWait | None = Field(
        default=None, description="Default: a server answers on the first port."
    )
    scheme: Annotated[str, Field(pattern=r"^[a-z][a-z0-9+.-]*$")] = Field(
        default="http", description="Scheme of deps.NAME.url (host and first port)."
    )

    @model_validator(mode="after")
    def _ports_known(self) -> "ContainerDependency":
        numbers = [str(p).split("/")[0] for p in self.ports]
        if len(set(numbers)) != len(numbers):
            raise ValueError("each container port may be listed once")
        needed = []
        if self.wait is not None and self.wait.port is not None:
            needed.append(self.wait.port)
        if self.wait is not None and self.wait.http is not None:
            needed.append(self.wait.http.port if self.wait.http.port is not None else "")
            if not self.ports:
                raise ValueError("an http wait needs a port: list it under ports")
        for port in needed:
            if port != "" and str(port).split("/")[0] not in numbers:
                raise ValueError(f"wait uses port {port}, which is not listed under ports")
        return self


from harness.spec.models.services import HttpServiceDependency  # noqa: E402  (on DependencyBase)

Dependency = Annotated[
    PostgresDependency | RedisDependency | ContainerDependency | HttpServiceDependency,
    Field(discriminator="kind"),
]
DEPENDENCY_KINDS = ("postgres", "redis", "container", "http_service")
PROVIDERS = ("auto", "docker", "embedded", "external")
