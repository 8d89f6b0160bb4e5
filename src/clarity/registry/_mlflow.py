"""The model registry, over MLflow with a local SQLite backend by default.

Every trained model is registered with its parameters, metrics, the fingerprint
of its training data and the code version, so any score on the bus can be
traced to the exact model and data that produced it. MLflow is imported only
when a registry is opened.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from clarity._version_info import __version__
from clarity.config import Settings
from clarity.errors import RegistryError

__all__ = ["Evaluation", "LoadedModel", "ModelRegistry", "ModelVersion"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_EXPERIMENT = "clarity"
_FINGERPRINT_TAG = "clarity.data_fingerprint"
_CODE_TAG = "clarity.code_version"
_EVALUATION_TAG = "clarity.evaluation_of"


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(
            "The 'name' parameter must be 1 to 128 characters from letters, digits and "
            f"'_.-', starting with a letter or digit. Got {name!r} instead."
        )
    return name


def _check_alias(alias: str) -> str:
    if not _ALIAS.match(alias) or alias == "latest" or re.fullmatch(r"v\d+", alias):
        raise ValueError(
            "The 'alias' parameter must be lower case letters, digits, '_' and '-', start "
            f"with a letter, and not be 'latest' or 'v<number>'. Got {alias!r} instead."
        )
    return alias


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model, with its lineage.

    Parameters
    ----------
    name
        Registered model name, e.g. ``"wearable.pat-s.depression"``.
    version
        Version number, from 1.
    run_id
        MLflow run that holds the files, parameters and metrics.
    source
        URI of the model files.
    data_fingerprint
        Fingerprint of the training data (see :func:`fingerprint_data`).
    code_version
        Clarity version that trained it.
    params
        Training parameters, as text (MLflow stores them so).
    metrics
        Evaluation metrics.
    aliases
        Aliases pointing at this version, e.g. ``("production",)``.
    created_at
        When it was registered.
    """

    name: str
    version: int
    run_id: str
    source: str
    data_fingerprint: str
    code_version: str
    params: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    created_at: datetime | None = None


@dataclass(frozen=True)
class LoadedModel:
    """A model version with its files on local disk.

    Parameters
    ----------
    version
        The version's lineage.
    path
        Local directory holding the files that were registered.
    """

    version: ModelVersion
    path: Path


@dataclass(frozen=True)
class Evaluation:
    """One evaluation run of a model family, kept beside its versions.

    Parameters
    ----------
    name
        The model family evaluated, e.g. ``"wearable.pat"``.
    run_id
        The MLflow run holding the report files.
    params
        Settings of the evaluation, as text.
    metrics
        Every figure it measured.
    artifact_uri
        Where its report files are.
    created_at
        When it was logged.
    """

    name: str
    run_id: str
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    artifact_uri: str
    created_at: datetime


class ModelRegistry:
    """Register, find and load model versions.

    Parameters
    ----------
    tracking_uri
        MLflow tracking and registry URI, e.g. ``"sqlite:////data/mlflow.db"``
        or an MLflow server.
    artifact_root
        Directory for model files of the embedded default; ignored when the
        experiment already exists with another location.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> registry = ModelRegistry(f"sqlite:///{root}/mlflow.db", root / "artifacts")
    >>> model_dir = root / "model"; model_dir.mkdir()
    >>> _ = (model_dir / "weights.bin").write_bytes(b"0123")
    >>> v = registry.register("toy", model_dir, params={"depth": 2}, metrics={"auc": 0.8},
    ...                       data_fingerprint="sha256:" + "0" * 64, alias="production")
    >>> loaded = registry.load("toy", alias="production")
    >>> loaded.version.version, loaded.version.params["depth"]
    (1, '2')
    >>> (loaded.path / "weights.bin").read_bytes()
    b'0123'
    """

    def __init__(self, tracking_uri: str, artifact_root: Path | str) -> None:
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        from mlflow import MlflowClient

        self.tracking_uri = tracking_uri
        self.artifact_root = Path(artifact_root).resolve()
        if tracking_uri.startswith("sqlite:///"):
            Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._experiment_id: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ModelRegistry:
        """Open the registry configured in the settings.

        Parameters
        ----------
        settings
            Settings to use; :meth:`Settings.load` when omitted.

        Returns
        -------
        ModelRegistry
            The registry.
        """
        settings = settings or Settings.load()
        return cls(settings.tracking_uri, settings.artifact_root)

    def _experiment(self) -> str:
        if self._experiment_id is None:
            found = self._client.get_experiment_by_name(_EXPERIMENT)
            if found is not None:
                self._experiment_id = str(found.experiment_id)
            else:
                self.artifact_root.mkdir(parents=True, exist_ok=True)
                self._experiment_id = str(
                    self._client.create_experiment(
                        _EXPERIMENT, artifact_location=self.artifact_root.as_uri()
                    )
                )
        return self._experiment_id

    def register(
        self,
        name: str,
        model_dir: Path | str,
        *,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        data_fingerprint: str,
        alias: str | None = None,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """Register a new version of a model from a directory of files.

        Parameters
        ----------
        name
            Model name; created on first use.
        model_dir
            Directory holding everything needed to load the model.
        params
            Training parameters.
        metrics
            Evaluation metrics.
        data_fingerprint
            Fingerprint of the training data (:func:`fingerprint_data`).
        alias
            An alias to point at the new version, e.g. ``"production"``.
        tags
            Extra tags for the version.
        description
            Free-text description of the version.

        Returns
        -------
        ModelVersion
            The new version.

        Raises
        ------
        RegistryError
            If the directory is missing or empty, or MLflow refuses the version.
        """
        from mlflow.exceptions import MlflowException

        _check_name(name)
        if alias is not None:
            _check_alias(alias)
        directory = Path(model_dir)
        if not directory.is_dir() or not any(directory.iterdir()):
            raise RegistryError(
                f"Cannot register {name!r}: model_dir {str(directory)!r} is missing or empty."
            )
        version_tags = {_FINGERPRINT_TAG: data_fingerprint, _CODE_TAG: __version__, **(tags or {})}
        try:
            run = self._client.create_run(self._experiment(), tags=version_tags, run_name=name)
            run_id = run.info.run_id
            for key, value in params.items():
                self._client.log_param(run_id, key, value)
            for key, value in metrics.items():
                self._client.log_metric(run_id, key, float(value))
            self._client.log_artifacts(run_id, str(directory), artifact_path="model")
            self._client.set_terminated(run_id)
            if not self._client.search_registered_models(filter_string=f"name = '{name}'"):
                self._client.create_registered_model(name)
            created = self._client.create_model_version(
                name,
                source=f"{run.info.artifact_uri}/model",
                run_id=run_id,
                tags=version_tags,
                description=description,
            )
            if alias is not None:
                self._client.set_registered_model_alias(name, alias, created.version)
        except MlflowException as error:
            raise RegistryError(f"MLflow refused to register {name!r}: {error}") from error
        return self.get(name, version=int(created.version))

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point an alias (e.g. ``"production"``) at a version.

        Parameters
        ----------
        name
            Model name.
        alias
            The alias.
        version
            The version it should point at.
        """
        from mlflow.exceptions import MlflowException

        self.get(name, version=version)
        try:
            self._client.set_registered_model_alias(name, _check_alias(alias), str(version))
        except MlflowException as error:  # pragma: no cover - get() above checks existence
            raise RegistryError(f"Cannot set alias {alias!r} on {name!r}: {error}") from error

    def get(
        self, name: str, *, version: int | None = None, alias: str | None = None
    ) -> ModelVersion:
        """Find a version by number or alias; the newest when neither is given.

        Parameters
        ----------
        name
            Model name.
        version
            Version number.
        alias
            Alias, e.g. ``"production"``.

        Returns
        -------
        ModelVersion
            The version with its lineage.

        Raises
        ------
        RegistryError
            If the model, version or alias does not exist.
        """
        from mlflow.exceptions import MlflowException

        if version is not None and alias is not None:
            raise ValueError("Pass either 'version' or 'alias', not both.")
        versions = self._client.search_model_versions(filter_string=f"name = '{_check_name(name)}'")
        if not versions:
            known = ", ".join(self.models()) or "none"
            raise RegistryError(f"No model named {name!r} in the registry (models: {known}).")
        numbers = sorted(int(v.version) for v in versions)
        if alias is not None:
            try:
                found = self._client.get_model_version_by_alias(name, _check_alias(alias))
            except MlflowException as error:
                aliases = sorted(self._client.get_registered_model(name).aliases)
                raise RegistryError(
                    f"Model {name!r} has no alias {alias!r} "
                    f"(aliases: {', '.join(aliases) or 'none'})."
                ) from error
        else:
            if version is not None and version not in numbers:
                raise RegistryError(
                    f"Model {name!r} has no version {version} (versions: "
                    f"{', '.join(map(str, numbers))})."
                )
            found = self._client.get_model_version(name, str(version or numbers[-1]))
        if found.run_id is None or found.source is None:
            raise RegistryError(
                f"Model {name!r} version {found.version} was not registered by Clarity: it has "
                "no run or no source."
            )
        run = self._client.get_run(found.run_id)
        return ModelVersion(
            name=name,
            version=int(found.version),
            run_id=found.run_id,
            source=found.source,
            data_fingerprint=found.tags.get(_FINGERPRINT_TAG, ""),
            code_version=found.tags.get(_CODE_TAG, ""),
            params=dict(run.data.params),
            metrics=dict(run.data.metrics),
            aliases=tuple(sorted(found.aliases)),
            created_at=datetime.fromtimestamp(found.creation_timestamp / 1000, tz=UTC),
        )

    def load(
        self,
        name: str,
        *,
        version: int | None = None,
        alias: str | None = None,
        dst: Path | str | None = None,
    ) -> LoadedModel:
        """Find a version and make its files available on local disk.

        Parameters
        ----------
        name
            Model name.
        version
            Version number.
        alias
            Alias, e.g. ``"production"``; the newest version when neither is given.
        dst
            Where to copy the files. By default files in a local artifact store
            are used in place, and remote ones are downloaded to a new
            temporary directory.

        Returns
        -------
        LoadedModel
            The version and the directory of its files.
        """
        found = self.get(name, version=version, alias=alias)
        parsed = urlparse(found.source)
        local = Path(unquote(parsed.path))
        if dst is None and parsed.scheme == "file" and local.is_dir():
            return LoadedModel(found, local)
        import mlflow.artifacts

        target = Path(dst) if dst else Path(tempfile.mkdtemp(prefix="clarity-model-"))
        target.mkdir(parents=True, exist_ok=True)
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=found.source, dst_path=str(target), tracking_uri=self.tracking_uri
        )
        return LoadedModel(found, Path(path))

    def versions(self, name: str) -> list[ModelVersion]:
        """Return every version of a model, oldest first.

        Parameters
        ----------
        name
            Model name.

        Returns
        -------
        list of ModelVersion
            Its versions.
        """
        found = self._client.search_model_versions(filter_string=f"name = '{_check_name(name)}'")
        return [self.get(name, version=n) for n in sorted(int(v.version) for v in found)]

    def models(self) -> list[str]:
        """Return the names of every registered model.

        Returns
        -------
        list of str
            Model names, sorted.
        """
        return sorted(m.name for m in self._client.search_registered_models())

    def log_evaluation(
        self,
        name: str,
        *,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        report_dir: Path | str | None = None,
        data_fingerprint: str = "",
    ) -> Evaluation:
        """Keep an evaluation of a model family (a run without a model version).

        Parameters
        ----------
        name
            The model family, e.g. ``"wearable.pat"``.
        params
            Settings of the evaluation.
        metrics
            Its figures; MLflow keys allow letters, digits and ``_-./ ``.
        report_dir
            Files to keep with it (tables, plots).
        data_fingerprint
            Fingerprint of the evaluation data.

        Returns
        -------
        Evaluation
            The logged run.
        """
        from mlflow.exceptions import MlflowException

        _check_name(name)
        tags = {
            _EVALUATION_TAG: name,
            _FINGERPRINT_TAG: data_fingerprint,
            _CODE_TAG: __version__,
        }
        try:
            run = self._client.create_run(
                self._experiment(), tags=tags, run_name=f"{name} evaluation"
            )
            run_id = run.info.run_id
            for key, value in params.items():
                self._client.log_param(run_id, key, value)
            for key, value in metrics.items():
                self._client.log_metric(run_id, key, float(value))
            if report_dir is not None:
                self._client.log_artifacts(run_id, str(report_dir), artifact_path="report")
            self._client.set_terminated(run_id)
        except MlflowException as error:
            raise RegistryError(f"MLflow refused the evaluation of {name!r}: {error}") from error
        return self.evaluations(name)[-1]

    def evaluations(self, name: str) -> list[Evaluation]:
        """Return the evaluations of a model family, oldest first.

        Parameters
        ----------
        name
            The model family.

        Returns
        -------
        list of Evaluation
            Its evaluation runs.
        """
        runs = self._client.search_runs(
            [self._experiment()],
            filter_string=f"tags.`{_EVALUATION_TAG}` = '{_check_name(name)}'",
            order_by=["attributes.start_time ASC"],
        )
        return [
            Evaluation(
                name=name,
                run_id=run.info.run_id,
                params=dict(run.data.params),
                metrics=dict(run.data.metrics),
                artifact_uri=f"{run.info.artifact_uri}/report",
                created_at=datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC),
            )
            for run in runs
        ]
