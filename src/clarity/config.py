"""One typed settings object for every part of Clarity.

Values come, highest priority first, from keyword arguments, ``CLARITY_*``
environment variables (nested with ``__``, e.g. ``CLARITY_BUS__BACKEND``), a TOML
file, and the defaults below. The TOML file is the ``config_file`` argument, else
``$CLARITY_CONFIG``, else ``./clarity.toml`` when it exists::

    data_dir = "/var/lib/clarity"

    [bus]
    backend = "sqlite"        # or "memory", or "package.module:TransportClass"
    synchronous = "FULL"

    [registry]
    tracking_uri = "postgresql://mlflow@db/mlflow"

Relative paths are relative to the working directory.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from clarity.errors import ConfigurationError

__all__ = [
    "ApiSettings",
    "BusSettings",
    "GenotypeSettings",
    "NotesSettings",
    "RegistrySettings",
    "SecuritySettings",
    "Settings",
    "StoreSettings",
]


class BusSettings(BaseModel):
    """Where the feature bus keeps its log."""

    model_config = ConfigDict(extra="forbid")

    backend: str = Field(
        default="sqlite",
        description="'sqlite', 'memory', or a transport class as 'package.module:Class'.",
    )
    path: Path | None = Field(
        default=None, description="SQLite log file; default <data_dir>/bus.sqlite3."
    )
    synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description="SQLite durability: FULL survives power loss, NORMAL only a process crash.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for a custom transport class."
    )


class StoreSettings(BaseModel):
    """Where the feature and twin store keeps its tables."""

    model_config = ConfigDict(extra="forbid")

    backend: str = Field(
        default="sqlite", description="'sqlite' or a store class as 'package.module:Class'."
    )
    path: Path | None = Field(
        default=None, description="SQLite file; default <data_dir>/store.sqlite3."
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for a custom store class."
    )


class RegistrySettings(BaseModel):
    """Where the MLflow model registry lives."""

    model_config = ConfigDict(extra="forbid")

    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking and registry URI; default sqlite:///<data_dir>/mlflow.db.",
    )
    artifact_root: Path | None = Field(
        default=None, description="Where model files go; default <data_dir>/artifacts."
    )


class SecuritySettings(BaseModel):
    """Who may sign in, for how long, and the default consent."""

    model_config = ConfigDict(extra="forbid")

    issuer: str = Field(default="clarity-local", description="Issuer of locally signed tokens.")
    audience: str = Field(default="clarity", description="Audience every token must name.")
    token_minutes: int = Field(default=60, ge=1, le=24 * 60, description="Token lifetime.")
    oidc_issuer: str | None = Field(default=None, description="An OIDC issuer to trust too.")
    oidc_audience: str | None = Field(default=None, description="Its audience (default: audience).")
    oidc_jwks_file: Path | None = Field(
        default=None, description="The issuer's JWKS as a file (nothing is fetched at run time)."
    )
    consent_default: Literal["permit", "deny"] = Field(
        default="permit",
        description="Decision for a data category no consent decision was recorded for.",
    )


class ApiSettings(BaseModel):
    """Where the API and dashboard listen."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="Interface to bind.")
    port: int = Field(default=8000, ge=1, le=65535, description="API port.")
    dashboard_port: int = Field(default=8050, ge=1, le=65535, description="Dashboard port.")
    api_url: str | None = Field(
        default=None, description="URL the dashboard calls; default http://host:port."
    )


class NotesSettings(BaseModel):
    """How the notes service drafts summaries, and where its note index lives."""

    model_config = ConfigDict(extra="forbid")

    summarise: bool = Field(
        default=True, description="Draft a notes.summary for each patient with new notes."
    )
    backend: Literal["extractive", "transformers", "openai", "llama-cpp"] = Field(
        default="extractive",
        description="Summary backend; the extractive default needs no model.",
    )
    backend_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of the backend, e.g. base_model and adapter (transformers), "
        "base_url and model (openai).",
    )
    retrieval: bool = Field(
        default=True,
        description="Index notes (MiniLM + BM25) for retrieval and use semantic support in "
        "the fact check.",
    )
    index: Literal["sqlite", "postgres"] = Field(
        default="sqlite", description="Where the note index lives."
    )
    index_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Index options: 'path' (sqlite; default <data_dir>/notes_index.sqlite3) "
        "or 'dsn' (postgres).",
    )
    window_days: int = Field(
        default=90, ge=1, le=36_500, description="Days of notes a summary covers by default."
    )


class GenotypeSettings(BaseModel):
    """How the genotype service scores patients, and where its training runs."""

    model_config = ConfigDict(extra="forbid")

    dask_scheduler: str | None = Field(
        default=None,
        description="Train on a Dask cluster: a scheduler address such as "
        "'tcp://scheduler:8786', or 'local' for a LocalCluster on this machine; "
        "None trains in-process.",
    )
    top_snps: int = Field(default=5, ge=1, le=50, description="Variants listed per risk.")
    max_missing: float = Field(
        default=0.2,
        ge=0.0,
        lt=1.0,
        description="Largest share of a model's variants a call set may lack and be scored.",
    )


class Settings(BaseSettings):
    """Settings of a Clarity installation.

    Build it with :meth:`load`, which finds the TOML file; ``Settings()`` alone
    reads only keyword arguments, the environment and the defaults.

    Examples
    --------
    >>> settings = Settings.load(data_dir="/tmp/clarity-example")
    >>> settings.bus_path
    PosixPath('/tmp/clarity-example/bus.sqlite3')
    """

    model_config = SettingsConfigDict(
        env_prefix="CLARITY_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Field(
        default=Path(".clarity"), description="Where embedded backends keep their files."
    )
    bus: BusSettings = Field(default_factory=BusSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    notes: NotesSettings = Field(default_factory=NotesSettings)
    genotype: GenotypeSettings = Field(default_factory=GenotypeSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read keyword arguments, then the environment, then the TOML file."""
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @classmethod
    def load(cls, config_file: Path | str | None = None, **overrides: Any) -> Settings:
        """Load settings from overrides, the environment and a TOML file.

        Parameters
        ----------
        config_file
            TOML file to read; else ``$CLARITY_CONFIG``; else ``./clarity.toml``
            when present.
        **overrides
            Values that take precedence over every source.

        Returns
        -------
        Settings
            The validated settings.

        Raises
        ------
        ConfigurationError
            If the file is missing or unreadable, or a value is invalid.
        """
        chosen = config_file or os.environ.get("CLARITY_CONFIG")
        if chosen is not None and not Path(chosen).is_file():
            raise ConfigurationError(f"The configuration file {str(chosen)!r} does not exist.")
        if chosen is None and Path("clarity.toml").is_file():
            chosen = "clarity.toml"

        class _FromFile(cls):  # type: ignore[valid-type,misc]
            model_config = SettingsConfigDict(toml_file=chosen)

        try:
            loaded = _FromFile(**overrides)
        except ValidationError as error:
            details = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
            )
            origin = f" (file {chosen})" if chosen else ""
            raise ConfigurationError(f"Invalid Clarity settings{origin}: {details}") from error
        except SettingsError as error:
            raise ConfigurationError(
                f"Invalid Clarity settings in the CLARITY_* environment variables: {error}"
            ) from error
        except (tomllib.TOMLDecodeError, OSError) as error:
            raise ConfigurationError(
                f"Cannot read the configuration file {chosen}: {error}"
            ) from error
        return cls.model_construct(**{name: getattr(loaded, name) for name in cls.model_fields})

    @property
    def bus_path(self) -> Path:
        """The SQLite bus file."""
        return self.bus.path or self.data_dir / "bus.sqlite3"

    @property
    def store_path(self) -> Path:
        """The SQLite store file."""
        return self.store.path or self.data_dir / "store.sqlite3"

    @property
    def tracking_uri(self) -> str:
        """The MLflow tracking and registry URI."""
        return self.registry.tracking_uri or f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}"

    @property
    def artifact_root(self) -> Path:
        """Where registered model files are stored."""
        return (self.registry.artifact_root or self.data_dir / "artifacts").resolve()
