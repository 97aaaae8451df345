"""The model registry: versions, resolution, and integrity checks before unpickling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from custrisk.errors import ModelArtifactError, UsageError
from custrisk.registry import (
    MODEL_CARD,
    MODEL_FILE,
    SIGNING_KEY_ENV,
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


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    Pickled.unpickled = 0


def _save(tmp_path: Path, value: int = 1, name: str = "demo"):
    return save_model(
        Pickled(value), {"algorithm": "logistic", "features": ["a"]}, name=name, models=tmp_path
    )


def test_versions_increase_and_resolve(tmp_path: Path) -> None:
    first, second = _save(tmp_path, 1), _save(tmp_path, 2)
    assert (first.version, second.version) == (1, 2)
    assert resolve_model("demo", tmp_path).version == 2
    assert resolve_model("demo@1", tmp_path).path == tmp_path / "demo" / "1"
    assert resolve_model(str(first.path), tmp_path).model_id == "demo@1"
    assert load_model(resolve_model("demo@1", tmp_path)).model.value == 1
    assert [row["model_id"] for row in list_models(tmp_path)] == ["demo@1", "demo@2"]
    assert (first.path / MODEL_FILE).stat().st_mode & 0o777 == 0o600


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
        load_model(ref)
    assert Pickled.unpickled == 0


def test_missing_file_and_damaged_card(tmp_path: Path) -> None:
    ref = _save(tmp_path)
    (ref.path / MODEL_FILE).unlink()
    with pytest.raises(ModelArtifactError, match=r"model\.joblib: model file missing"):
        load_model(ref)
    (ref.path / MODEL_CARD).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelArtifactError, match=r"model card is not valid JSON"):
        load_model(ref)


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
        load_model(ref)
    assert Pickled.unpickled == 0


def test_signature_written_and_required(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SIGNING_KEY_ENV, "s3cret")
    ref = _save(tmp_path)
    card = json.loads((ref.path / MODEL_CARD).read_text(encoding="utf-8"))
    assert card["signature"]["algorithm"] == "hmac-sha256"
    assert load_model(ref).model.value == 1
    monkeypatch.setenv(SIGNING_KEY_ENV, "other")
    with pytest.raises(ModelArtifactError, match="signature check failed: the HMAC does not"):
        load_model(ref)
    monkeypatch.delenv(SIGNING_KEY_ENV)
    unsigned = _save(tmp_path)
    monkeypatch.setenv(SIGNING_KEY_ENV, "s3cret")
    with pytest.raises(ModelArtifactError, match="the model is not signed but CUSTRISK_SIGNING"):
        load_model(unsigned)


def test_edited_card_breaks_the_signature(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SIGNING_KEY_ENV, "s3cret")
    ref = _save(tmp_path)
    card = json.loads((ref.path / MODEL_CARD).read_text(encoding="utf-8"))
    card["features"] = ["a", "b"]
    (ref.path / MODEL_CARD).write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelArtifactError, match="signature check failed"):
        load_model(ref)
    assert Pickled.unpickled == 0
