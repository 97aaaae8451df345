"""What a month's run depends on and what it records: the basis (input files, configs
by their contents, the model's card, the previous run, library versions), its
fingerprint that makes a rerun a no-op, and the run facts written to ``run.json``.

Split from :mod:`custrisk.batch.run`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import socket
from importlib import metadata
from pathlib import Path
from typing import Any

from custrisk import __version__
from custrisk.batch.config import ENGINE_KEYS, RunConfig, shift_period
from custrisk.batch.layout import LAYOUT_VERSION, RunLayout, file_hashes, sha256_file
from custrisk.batch.stages import SCORES_FILE, STAGES
from custrisk.config._yaml import load_yaml_file
from custrisk.config.resources import (
    default_config_path,
    default_templates_dir,
    recorded_config_path,
)
from custrisk.errors import DataError
from custrisk.io.clock import recorded_now
from custrisk.privacy import with_names_masked
from custrisk.results import read_facts

#: Packaged defaults of the configs a run reads, for their hashes.
DEFAULT_CONFIGS = {
    "sources": "sources.yaml",
    "policy": "policy.yaml",
    "alert_rules": "alerts.yaml",
    "drift": "drift.yaml",
    "reports": "reports.yaml",
}
#: RUN.yaml's keys that change no output of a month: the lock's (one) scope, how many
#: months are kept (``reports.workers`` is another: the PDFs are the same bytes).
NEUTRAL_KEYS = ("lock", "retention")
VERSIONED = ("numpy", "pandas", "pyarrow", "scikit-learn", "weasyprint", "jinja2")


def _basis(
    config: RunConfig,
    period: str,
    model_id: str,
    card: dict[str, Any],
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    """Everything the outputs depend on: inputs, configs, model, previous run, versions."""
    inputs = _input_hashes(config.exports_for(period), "exports")
    if config.evaluate.labels is not None:
        matured = shift_period(period, -config.evaluate.after_months)
        labels = config.labels_for(matured)
        if labels is not None and labels.is_file():
            inputs[f"labels/{matured}"] = sha256_file(labels)
            inputs.update(_input_hashes(config.exports_for(matured), f"exports/{matured}"))
    configs = {}
    for name, path in config.config_files().items():
        file = path if path is not None else default_config_path(DEFAULT_CONFIGS[name])
        configs[name] = {"file": recorded_config_path(file), "sha256": _config_hash(file, name)}
        if name == "run":
            configs[name]["settings_sha256"] = _run_settings_hash(file)
    templates = config.reports.templates or default_templates_dir()
    configs["templates"] = {
        "file": recorded_config_path(templates),
        "sha256": _tree_hash(templates),
    }
    return {
        "period": period,
        "inputs": inputs,
        **({"queries": queried} if (queried := config.query_facts(period)) else {}),
        "configs": configs,
        "model": {"model_id": model_id, "card_sha256": _hash_json(card)},
        "previous": previous,
        "versions": _versions(),
    }


def _fingerprint(basis: dict[str, Any]) -> str:
    """The hash of ``basis`` with every config counted by its contents, not by where it
    is (``file``: a moved install or a restored backup is up to date), and RUN.yaml by
    its settings other than the engine's (``settings_sha256``), not by its bytes: moving
    a month to the Dask engine (or back, or to another cluster) does not make a finished
    run out of date."""
    configs = {
        name: {k: v for k, v in entry.items() if k != "file" and (name != "run" or k != "sha256")}
        for name, entry in basis["configs"].items()
    }
    return _hash_json({**basis, "configs": configs})


def _run_settings_hash(file: Path) -> str:
    """The SHA-256 of RUN.yaml's settings (canonical JSON) without :data:`ENGINE_KEYS`
    and without ``notifications`` (the file was read and checked already by
    :func:`load_run_config`): the notifications are sent from the outputs, not part of
    them; an edited section sends what was not delivered as it now says
    (:func:`custrisk.batch.run._notify_again`), not the month again. Nor the settings
    that change no output (:data:`NEUTRAL_KEYS`, ``reports.workers``): tuning how many
    processes render the reports, or how many months are kept, does not run the month
    again and send its digests a second time."""
    document = load_yaml_file(file)
    left_out = {*ENGINE_KEYS, "notifications", *NEUTRAL_KEYS}
    settings = {k: v for k, v in document.items() if k not in left_out}
    if isinstance(settings.get("reports"), dict):
        settings["reports"] = {k: v for k, v in settings["reports"].items() if k != "workers"}
    return _hash_json(settings)


def _config_hash(file: Path, name: str) -> str:
    try:
        return sha256_file(file)
    except OSError as exc:
        raise DataError(
            f"cannot read the {name} config ({exc.strerror or exc})",
            file=str(file),
            hint="check the path in the run config",
        ) from None


def _input_hashes(path: Path, prefix: str) -> dict[str, str]:
    """Each input file's SHA-256 by its name (a phone number, ID number or e-mail address
    in it masked: run.json holds no personal data)."""
    if path.is_file():
        return with_names_masked({f"{prefix}/{path.name}": sha256_file(path)})
    return with_names_masked({f"{prefix}/{n}": d for n, d in file_hashes(path).items()})


def _tree_hash(folder: Path) -> str:
    return _hash_json(file_hashes(folder)) if folder.is_dir() else ""


def _hash_json(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _versions() -> dict[str, str]:
    found = {"custrisk": __version__, "python": platform.python_version()}
    for name in VERSIONED:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def _facts(
    config: RunConfig,
    period: str,
    basis: dict[str, Any],
    fingerprint: str,
    state: dict[str, Any],
    layout: RunLayout,
) -> dict[str, Any]:
    stages = state["stages"]
    outputs = file_hashes(layout.staging)
    failures = [s["gate"] for s in stages.values() if s.get("gate")]
    return {
        "layout": LAYOUT_VERSION,
        "period": period,
        # the scoring run's id (scores.run.json), the one its notifications carry: a
        # receiver matches a delivery to its run; the same scores, the same id
        "run_id": read_facts(layout.staging / SCORES_FILE)["run_id"],
        "fingerprint": fingerprint,
        "finished": recorded_now().isoformat(),  # (SOURCE_DATE_EPOCH pins it)
        "host": socket.gethostname(),
        "config": str(config.path),
        **basis,
        "stages": {name: stages[name] for name in STAGES if name in stages},
        "outputs": outputs,
        "gate": {"failed": bool(failures), "failures": failures},
    }
