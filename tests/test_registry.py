"""The model registry: versions, resolution, and integrity checks before unpickling."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import pytest

import custrisk
from custrisk.errors import ModelArtifactError, UsageError
from custrisk.registry import (
    MODEL_CARD,
    MODEL_FILE,
    REQUIRE_SIGNED_ENV,
    SIGNING_KEY_ENV,
    LoadedModel,
    ModelRef,
    list_models,
    load_model,
    resolve_model,
    save_model,
)


class Pickled:
    """Records that it was unpickled, to prove refused files are never loaded."""

    unpickled = 0

    def __init__(self, value: int) -> None:
        self.value = value

    def __setstate__(self, state: dict) -> None:
        type(self).unpickled += 1
        self.__dict__.update(state)


class Trap:
    """Unpickling it creates ``marker``: stands for attacker code in a pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    monkeypatch.delenv(REQUIRE_SIGNED_ENV, raising=False)
    Pickled.unpickled = 0


def _save(tmp_path: Path, value: int = 1, name: str = "demo") -> ModelRef:
    return save_model(
        Pickled(value),
        {"algorithm": "logistic", "features": ["a"]},
        name=name,
        models=tmp_path,
        extra_files={"indicators.yaml": "indicators:\n  a: {expr: x + 1}\n"},
    )


def _load(ref: ModelRef, **options: Any) -> LoadedModel:
    return load_model(ref, types=(Pickled,), **options)


def _plant_trap(ref: ModelRef, marker: Path) -> None:
    """Replace the pickle with attacker code and update the card's hashes to match, as
    anyone who can write the folder can when the card is not signed."""
    joblib.dump(Trap(marker), ref.path / MODEL_FILE)
    card = json.loads((ref.path / MODEL_CARD).read_text(encoding="utf-8"))
    data = (ref.path / MODEL_FILE).read_bytes()
    entry = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    card["artifact"].update(entry)
    if "files" in card:
        card["files"][MODEL_FILE] = entry
    (ref.path / MODEL_CARD).write_text(json.dumps(card), encoding="utf-8")


def test_an_empty_latest_version_is_refused_naming_the_ways_out(tmp_path: Path) -> None:
    """A version folder made by hand (or a copy cut short) is the latest: refused, with
    the version to name instead, never loaded as a model."""
    _save(tmp_path, 1)
    (tmp_path / "demo" / "2").mkdir()
    with pytest.raises(ModelArtifactError) as refused:
        _load(resolve_model("demo", tmp_path))
    assert "model card missing" in str(refused.value)
    assert "NAME@VERSION" in str(refused.value.hint) and "remove the folder" in str(
        refused.value.hint
    )
    assert _load(resolve_model("demo@1", tmp_path)).model.value == 1


def test_versions_increase_and_resolve(tmp_path: Path) -> None:
    first, second = _save(tmp_path, 1), _save(tmp_path, 2)
    assert (first.version, second.version) == (1, 2)
    assert resolve_model("demo", tmp_path).version == 2
    assert resolve_model("demo@1", tmp_path).path == tmp_path / "demo" / "1"
    assert resolve_model(str(first.path), tmp_path).model_id == "demo@1"
    assert _load(resolve_model("demo@1", tmp_path)).model.value == 1
    assert [row["model_id"] for row in list_models(tmp_path)] == ["demo@1", "demo@2"]
    assert (first.path / MODEL_FILE).stat().st_mode & 0o777 == 0o600


def test_a_model_names_folder_is_its_latest_version_wherever_the_registry_is(
    tmp_path: Path,
) -> None:
    # -m models/logistic, as a user points at the folder train printed, with another
    # --models-dir (or none): the folder's versions, not a NAME in the registry
    _save(tmp_path, 1)
    _save(tmp_path, 2)
    elsewhere = tmp_path / "other"
    assert resolve_model(str(tmp_path / "demo"), elsewhere).model_id == "demo@2"
    assert resolve_model(f"{tmp_path / 'demo'}@1", elsewhere).path == tmp_path / "demo" / "1"
    with pytest.raises(ModelArtifactError, match=r"model 'demo' has no version 7 in"):
        resolve_model(f"{tmp_path / 'demo'}@7", elsewhere)
    with pytest.raises(ModelArtifactError, match=r"not a model folder, NAME or NAME@VERSION"):
        resolve_model(str(tmp_path / "other"), elsewhere)  # no such folder


@pytest.mark.parametrize(
    "spec,message",
    [
        ("nope", r"no model named 'nope' in .*; train one"),
        ("demo@7", r"model 'demo' has no version 7 in .*; versions: 1"),
        ("demo@x", r"model 'demo@x' not found: not a model folder, NAME or NAME@VERSION"),
    ],
)
def test_unknown_models(tmp_path: Path, spec: str, message: str) -> None:
    _save(tmp_path)
    with pytest.raises(ModelArtifactError, match=message):
        resolve_model(spec, tmp_path)


def test_bad_name(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"model name '\.\./x' is not allowed"):
        _save(tmp_path, name="../x")


def test_a_changed_byte_is_refused_before_unpickling(tmp_path: Path) -> None:
    ref = _save(tmp_path)
    path = ref.path / MODEL_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelArtifactError, match=r"model\.joblib: SHA-256 check failed"):
        _load(ref)
    assert Pickled.unpickled == 0


def test_missing_file_and_damaged_card(tmp_path: Path) -> None:
    ref = _save(tmp_path)
    (ref.path / MODEL_FILE).unlink()
    with pytest.raises(ModelArtifactError, match=r"model\.joblib: model file missing"):
        _load(ref)
    (ref.path / MODEL_CARD).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelArtifactError, match=r"model card is not valid JSON"):
        _load(ref)


def test_incompatible_library_version_is_refused(tmp_path: Path) -> None:
    ref = _save(tmp_path)
    card = json.loads((ref.path / MODEL_CARD).read_text(encoding="utf-8"))
    card["libraries"]["scikit-learn"] = "0.24.2"
    (ref.path / MODEL_CARD).write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(
        ModelArtifactError,
        match=r"library check failed: trained with "
        r"scikit-learn 0\.24\.2, this environment has",
    ):
        _load(ref)
    assert Pickled.unpickled == 0


def test_signature_written_and_required(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SIGNING_KEY_ENV, "s3cret")
    ref = _save(tmp_path)
    card = json.loads((ref.path / MODEL_CARD).read_text(encoding="utf-8"))
    assert card["signature"]["algorithm"] == "hmac-sha256"
    assert _load(ref).model.value == 1
    monkeypatch.setenv(SIGNING_KEY_ENV, "other")
    with pytest.raises(ModelArtifactError, match="signature check failed: the HMAC does not"):
        _load(ref)
    monkeypatch.delenv(SIGNING_KEY_ENV)
    unsigned = _save(tmp_path)
    monkeypatch.setenv(SIGNING_KEY_ENV, "s3cret")
    with pytest.raises(ModelArtifactError, match="the model is not signed but CUSTRISK_SIGNING"):
        _load(unsigned)


def test_a_short_or_padded_signing_key_is_warned_of(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A key of a few characters is guessed offline from a card's HMAC, and a trailing
    newline read from a file signs with a key the other machines do not have: the model
    is still signed, with a warning saying what to do."""
    for key, expected in (
        ("s3cret", "CUSTRISK_SIGNING_KEY is 6 bytes long"),
        ("k" * 40 + "\n", "CUSTRISK_SIGNING_KEY starts or ends with a blank or a newline"),
    ):
        monkeypatch.setenv(SIGNING_KEY_ENV, key)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="custrisk"):
            ref = _save(tmp_path)
        assert expected in caplog.text
        assert "signature" in json.loads((ref.path / MODEL_CARD).read_text(encoding="utf-8"))
    monkeypatch.setenv(SIGNING_KEY_ENV, "k" * 40)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="custrisk"):
        _save(tmp_path)
    assert SIGNING_KEY_ENV not in caplog.text


def test_edited_card_breaks_the_signature(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SIGNING_KEY_ENV, "s3cret")
    ref = _save(tmp_path)
    card = json.loads((ref.path / MODEL_CARD).read_text(encoding="utf-8"))
    card["features"] = ["a", "b"]
    (ref.path / MODEL_CARD).write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelArtifactError, match="signature check failed"):
        _load(ref)
    assert Pickled.unpickled == 0


def test_every_file_of_the_model_folder_is_listed_in_the_card(tmp_path: Path) -> None:
    ref = _save(tmp_path)
    card = json.loads((ref.path / MODEL_CARD).read_text(encoding="utf-8"))
    on_disk = {p.name for p in ref.path.iterdir()} - {MODEL_CARD}
    assert set(card["files"]) == on_disk == {MODEL_FILE, "indicators.yaml"}
    for name, entry in card["files"].items():
        data = (ref.path / name).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    assert (card["name"], card["version"], card["model_id"]) == ("demo", 1, "demo@1")


@pytest.mark.parametrize("key", [None, "s3cret"])
def test_an_edited_indicator_config_in_the_model_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str | None
) -> None:
    if key:
        monkeypatch.setenv(SIGNING_KEY_ENV, key)
    ref = _save(tmp_path)
    assert _load(ref).file_text("indicators.yaml").endswith("{expr: x + 1}\n")
    (ref.path / "indicators.yaml").write_text("indicators:\n  a: {expr: x + 9}\n", encoding="utf-8")
    with pytest.raises(ModelArtifactError, match=r"indicators\.yaml: SHA-256 check failed"):
        _load(ref)
    assert Pickled.unpickled == 1  # the first, clean load only


def test_a_file_the_card_does_not_list_is_refused(tmp_path: Path) -> None:
    ref = _save(tmp_path)
    (ref.path / "sitecustomize.py").write_text("print('hi')\n", encoding="utf-8")
    with pytest.raises(
        ModelArtifactError, match=r"not listed in its card: 'sitecustomize\.py'; .*remove them"
    ):
        _load(ref)
    assert Pickled.unpickled == 0


def test_the_pickle_is_unpickled_from_the_bytes_that_were_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An attacker swaps model.joblib right after its hash was checked: what runs must be
    # what was checked, so the file may not be opened a second time.
    monkeypatch.setenv(SIGNING_KEY_ENV, "s3cret")
    ref = _save(tmp_path)
    genuine = hashlib.sha256((ref.path / MODEL_FILE).read_bytes()).hexdigest()
    marker = tmp_path / "attacker-code-ran"
    real_compare = hmac.compare_digest

    def compare_then_swap(a: Any, b: Any) -> bool:
        result = real_compare(a, b)
        if genuine in (a, b):
            joblib.dump(Trap(marker), ref.path / MODEL_FILE)
        return result

    monkeypatch.setattr(hmac, "compare_digest", compare_then_swap)
    loaded = _load(ref)
    assert loaded.model.value == 1
    assert not marker.exists()


def test_a_model_unpickled_in_the_background_is_the_same_model(tmp_path: Path) -> None:
    ref = _save(tmp_path, 7)
    loaded = _load(ref, background=True)
    assert loaded.model_id == "demo@1"  # the card is there at once
    assert loaded.model.value == 7 and Pickled.unpickled == 1
    assert loaded.model is loaded.model  # unpickled once
    assert loaded.file_text("indicators.yaml").endswith("{expr: x + 1}\n")
    sent = pickle.loads(pickle.dumps(_load(ref, background=True)))  # to a Dask worker
    assert type(sent) is LoadedModel and sent.model.value == 7
    now = _load(ref)
    assert (loaded.card, dict(loaded.files), loaded.trust) == (now.card, dict(now.files), now.trust)


def test_a_background_load_refuses_before_returning_and_reports_at_first_use(
    tmp_path: Path,
) -> None:
    ref = _save(tmp_path)
    (ref.path / "extra.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ModelArtifactError, match=r"not listed in its card: 'extra\.txt'"):
        _load(ref, background=True)  # verified before anything runs in the background
    (ref.path / "extra.txt").unlink()
    pending = load_model(ref, types=(LoadedModel,), background=True)
    with pytest.raises(ModelArtifactError, match=r"model\.joblib: holds a .*Pickled, not one of"):
        _ = pending.model
    assert Pickled.unpickled == 1


def test_library_versions_do_not_import_scikit_learn() -> None:
    # a model's card is checked against scikit-learn's version before the model is
    # unpickled (which imports it, in the background while the exports are read)
    code = (
        "import sys\n"
        "from custrisk.registry.artifact import library_versions\n"
        "before = library_versions()['scikit-learn']\n"
        "assert 'sklearn' not in sys.modules, 'imported'\n"
        "import sklearn\n"
        "assert before == sklearn.__version__ == library_versions()['scikit-learn'], before\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_rehashed_malicious_pickle_is_refused_when_signed_models_are_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = _save(tmp_path)
    marker = tmp_path / "attacker-code-ran"
    _plant_trap(ref, marker)
    monkeypatch.setenv(REQUIRE_SIGNED_ENV, "1")
    with pytest.raises(
        ModelArtifactError,
        match=r"the model is not signed, and signed models are required \(custrisk serve, "
        r"CUSTRISK_REQUIRE_SIGNED=1 or --require-signed\); train it again with "
        r"CUSTRISK_SIGNING_KEY set",
    ):
        _load(ref)
    monkeypatch.setenv(SIGNING_KEY_ENV, "s3cret")
    with pytest.raises(ModelArtifactError, match="the model is not signed but CUSTRISK_SIGNING"):
        _load(ref)
    monkeypatch.delenv(SIGNING_KEY_ENV)
    monkeypatch.delenv(REQUIRE_SIGNED_ENV)
    with pytest.raises(ModelArtifactError, match="signed models are required"):
        _load(ref, require_signed=True)
    assert not marker.exists()


def test_a_signed_model_is_checked_when_signed_models_are_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SIGNING_KEY_ENV, "s3cret")
    monkeypatch.setenv(REQUIRE_SIGNED_ENV, "yes")
    loaded = _load(_save(tmp_path))
    assert (loaded.model.value, loaded.trust) == (1, "verified")


def test_require_signed_must_be_a_yes_or_no(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = _save(tmp_path)
    monkeypatch.setenv(REQUIRE_SIGNED_ENV, "maybe")
    with pytest.raises(UsageError, match=r"CUSTRISK_REQUIRE_SIGNED='maybe' is not a yes/no value"):
        _load(ref)


def test_a_signed_model_without_the_key_is_refused_unless_allowed_unverified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(SIGNING_KEY_ENV, "s3cret")
    ref = _save(tmp_path)
    monkeypatch.delenv(SIGNING_KEY_ENV)
    with pytest.raises(
        ModelArtifactError,
        match=r"the model is signed but CUSTRISK_SIGNING_KEY is not set, so its signature "
        r"cannot be checked; it was not loaded; .*--allow-unverified",
    ):
        _load(ref)
    assert Pickled.unpickled == 0
    with caplog.at_level(logging.WARNING, logger="custrisk"):
        loaded = _load(ref, allow_unverified=True)
    assert (loaded.model.value, loaded.trust) == (1, "unverified")
    assert "UNVERIFIED MODEL" in caplog.text
    with pytest.raises(ModelArtifactError, match="signed models are required"):
        _load(ref, allow_unverified=True, require_signed=True)


def test_an_empty_signing_key_is_said_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CI secret not defined for the job expands to "": the env block names the key, so
    "is not set" sent the CI author looking in the wrong place."""
    monkeypatch.setenv(SIGNING_KEY_ENV, "s3cret")
    ref = _save(tmp_path)
    monkeypatch.setenv(SIGNING_KEY_ENV, "")
    with pytest.raises(ModelArtifactError, match=r"CUSTRISK_SIGNING_KEY is set but empty \(a CI"):
        _load(ref)
    with pytest.raises(
        ModelArtifactError, match=r"required \(.*\) but CUSTRISK_SIGNING_KEY is set"
    ):
        _load(ref, require_signed=True)


@pytest.mark.parametrize("target", ["demo/2", "other/1"])
def test_a_version_copied_into_another_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    monkeypatch.setenv(SIGNING_KEY_ENV, "s3cret")
    ref = _save(tmp_path)
    shutil.copytree(ref.path, tmp_path / target)
    name, version = target.split("/")
    copied = resolve_model(f"{name}@{version}", tmp_path)
    with pytest.raises(
        ModelArtifactError,
        match=rf"the card is model demo@1 but its folder is {target}; .*move it back",
    ):
        _load(copied)
    with pytest.raises(ModelArtifactError, match="the card is model demo@1"):
        _load(resolve_model(str(tmp_path / target), tmp_path))
    assert Pickled.unpickled == 0


def test_the_loaded_object_must_be_a_custrisk_estimator(tmp_path: Path) -> None:
    ref = _save(tmp_path)
    with pytest.raises(
        ModelArtifactError,
        match=r"model\.joblib: holds a tests\.test_registry\.Pickled, not one of "
        r"LogisticScorecard, TreeModel",
    ):
        load_model(ref)


def test_a_stale_partial_folder_of_a_dead_train_is_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stale = tmp_path / "demo" / ".1.partial"
    stale.mkdir(parents=True)
    (stale / MODEL_FILE).write_bytes(b"half written")
    (tmp_path / "demo" / ".lock").write_text(
        json.dumps({"pid": 999999, "host": "gone", "started": "2026-01-01T00:00:00+00:00"})
    )
    with caplog.at_level(logging.WARNING, logger="custrisk"):
        ref = _save(tmp_path)
    assert ref.version == 1
    assert not stale.exists()
    assert (
        "left by a train that did not finish (pid 999999, host gone, since 2026-01-01"
        in caplog.text
    )
    assert _load(ref).model.value == 1


def test_a_live_writer_of_the_same_name_is_refused_and_named(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from custrisk.registry import lock_model_name\n"
            f"with lock_model_name('demo', {str(tmp_path)!r}):\n"
            "    print('ready', flush=True)\n"
            "    sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(custrisk.__file__).parents[1])},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
        with pytest.raises(
            UsageError,
            match=rf"model 'demo' in .* is being trained by another process \(pid "
            rf"{holder.pid}, host .*, since .*\); wait for that train to finish",
        ):
            _save(tmp_path)
    finally:
        holder.communicate("")
    assert holder.returncode == 0
    assert _save(tmp_path).version == 1


def test_a_saved_model_is_in_the_audit_line_of_the_command_that_made_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """train's audit line named no model and no output: the log could not say which
    data made retail@3, nor could audit trace vouch for its files."""
    from custrisk.protect import audit

    monkeypatch.setenv("CUSTRISK_AUDIT", "off")  # the record is kept, no line written
    session = audit.start("train", ["train"])
    try:
        ref = _save(tmp_path)
    finally:
        session.finish(0)
    assert session.record.model == "demo@1"
    assert list(session.record.outputs) == [str(ref.path)]


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        ({"metrics": None}, "the card's metrics is null, not a table"),
        ({"metrics": {"holdout": {"auc": "x"}}}, "metrics.holdout.auc is 'x', not a number"),
        ({"training": []}, "the card's training is list, not a table"),
        ({"features": 5}, "features is int, not a list of feature codes"),
    ],
)
def test_a_card_edited_into_another_shape_fails_its_check_and_still_lists(
    tmp_path: Path, edit: dict[str, Any], said: str
) -> None:
    """An unsigned card edited by hand passed models verify, then crashed models list,
    models show, evaluate and drift with an internal error."""
    from custrisk.registry import check_model

    ref = _save(tmp_path)
    card = json.loads((ref.path / MODEL_CARD).read_text(encoding="utf-8"))
    (ref.path / MODEL_CARD).write_text(json.dumps({**card, **edit}), encoding="utf-8")
    with pytest.raises(ModelArtifactError, match=said):
        _load(ref)
    check = check_model(ref)
    assert check.failed and said in str(check.problem)
    (row,) = list_models(tmp_path)
    assert (row["model_id"], row["auc"], row["features"]) == ("demo@1", None, 0)


class WithSpecs:
    """An estimator's feature specs, as a scorecard's binner and a tree keep them."""

    def __init__(self, specs: dict[str, Any]) -> None:
        self.specs_ = specs


def test_a_flat_table_model_saved_with_personal_data_in_its_headers_loads_them_masked(
    tmp_path: Path,
) -> None:
    """A model saved by the release before 2026-12 kept a header such as
    紧急联系人13812345678 or 经理wang.li@bank.cn评分 in clear (card, sources.yaml,
    indicators.yaml, the pickled labels): every reason label scored with it carried it.
    Loaded now, the headers are masked as this release saves them; the files on disk
    (their hashes) are left as they were."""
    from custrisk.estimators.features import FeatureSpec
    from custrisk.privacy import mask_pii_text

    contact, manager = "紧急联系人13812345678", "经理wang.li@bank.cn评分"
    spec = FeatureSpec("col3", label_zh=manager, label_en=manager)
    card = {
        "algorithm": "logistic",
        "features": ["col3"],
        "feature_labels": {"col3": {"zh": manager, "en": manager}},
        "table": {
            "file": "train.csv",
            "columns": [
                {"header": "客户编号", "name": "customer_id", "role": "id"},
                {"header": contact, "name": "col2", "role": "pii"},
                {"header": manager, "name": "col3", "role": "feature"},
            ],
        },
    }
    sources = f"sources:\n  credit:\n    rename:\n      {contact}: col2\n      {manager}: col3\n"
    indicators = f"indicators:\n  col3:\n    label: {{zh: {manager}, en: {manager}}}\n"
    ref = save_model(
        WithSpecs({"col3": spec}),
        card,
        name="flat",
        models=tmp_path,
        extra_files={"sources.yaml": sources, "indicators.yaml": indicators},
    )
    loaded = load_model(ref, types=(WithSpecs,))
    text = json.dumps(loaded.card, ensure_ascii=False)
    text += loaded.file_text("sources.yaml") + loaded.file_text("indicators.yaml")
    text += loaded.model.specs_["col3"].label_zh + loaded.model.specs_["col3"].label_en
    for clear in ("13812345678", "wang.li@"):
        assert clear not in text, clear
    assert loaded.card["table"]["columns"][1]["header"] == mask_pii_text(contact)
    assert f"{mask_pii_text(manager)}: col3" in loaded.file_text("sources.yaml")
    assert loaded.model.specs_["col3"].label_zh == mask_pii_text(manager)
    assert contact in (ref.path / "sources.yaml").read_text(encoding="utf-8")  # (as saved)
