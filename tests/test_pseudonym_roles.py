"""Keyed pseudonymisation (issue 15 item 2) and access by role (item 3): customer ids as
HMAC tokens stable across months, a re-identification table written only encrypted, and
an analyst who cannot produce a file with personal data in clear by any command."""

from __future__ import annotations

import csv
import os
import pwd
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.errors import ConfigError, UsageError
from custrisk.protect import add_key, is_encrypted, new_key
from custrisk.protect.pseudonym import TOKEN, pseudonym
from custrisk.protect.roles import (
    CLEAR_PII,
    Refusal,
    RoleRefused,
    add_refusal_listener,
    current_caller,
    load_roles,
    remove_refusal_listener,
    require,
)


@pytest.fixture(scope="module")
def keyfile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    add_key(path, new_key("encryption"))
    add_key(path, new_key("pseudonym"))
    return path


def _env(keyfile: Path, **extra: str) -> dict[str, str]:
    base = {
        "CUSTRISK_KEYFILE": str(keyfile),
        "CUSTRISK_KEY": "",
        "CUSTRISK_PSEUDONYM_KEY": "",
        "CUSTRISK_ROLE": "",
        "CUSTRISK_ROLES": "",
    }
    return {**base, **extra}


def invoke(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


# -- pseudonyms ------------------------------------------------------------------------


def test_tokens_are_keyed_stable_and_idempotent() -> None:
    one, two = new_key("pseudonym"), new_key("pseudonym")
    token = pseudonym("0000000001", one)
    assert TOKEN.match(token)
    assert token == pseudonym("0000000001", one)  # stable: next month joins
    assert token != pseudonym("0000000002", one)
    assert token != pseudonym("0000000001", two)  # keyed: no key, no token
    assert pseudonym(token, one) == token  # a token is not pseudonymised again


def test_a_blank_id_is_not_tokenised(tmp_path: Path) -> None:
    """A rejected row's blank customer id ("required value is blank") showed as a token,
    the same for every blank row, with an empty id in the re-identification table."""
    from custrisk.protect.output import Encryption
    from custrisk.protect.pseudonym import Pseudonymiser

    psn = Pseudonymiser(new_key("pseudonym"), Encryption(new_key("encryption")))
    out = psn.tokens(pd.Series(["0000000001", "", "  ", None], dtype=object))
    assert TOKEN.match(out[0]) and list(out[1:]) == ["", "  ", None]
    assert [value for (_, _), value in psn.mapping.items()] == ["0000000001"]


@pytest.fixture(scope="module")
def pseudonymised_run(
    tmp_path_factory: pytest.TempPathFactory, export_200: Path, models_200: Path, keyfile: Path
) -> Path:
    out = tmp_path_factory.mktemp("psn_run")
    code, output = invoke(
        _env(keyfile), "score", str(export_200), "-m", "logistic", "--models-dir",
        str(models_200), "--out", str(out / "scores.csv"), "--pseudonymise",
    )  # fmt: skip
    assert code == 0, output
    return out


def test_score_names_the_reidentification_table_among_the_files_written(
    tmp_path: Path, export_200: Path, models_200: Path, keyfile: Path
) -> None:
    out = tmp_path / "scores.csv"
    code, output = invoke(
        _env(keyfile), "score", str(export_200), "-m", "logistic", "--models-dir",
        str(models_200), "--out", str(out), "--pseudonymise",
    )  # fmt: skip
    assert code == 0, output
    table = tmp_path / "reidentification.csv.enc"
    assert table.is_file()
    said = output.split("Wrote:", 1)[1]
    assert re.search(rf"\n  {re.escape(str(table))} +the customer ids behind the tokens", said)


def _credit(export: Path) -> pd.DataFrame:
    return pd.read_csv(export / "credit.csv", dtype=str, keep_default_na=False)


def test_a_pseudonymised_run_holds_tokens_and_masked_data_only(
    pseudonymised_run: Path, export_200: Path, keyfile: Path
) -> None:
    credit = _credit(export_200)
    scores = pd.read_csv(pseudonymised_run / "scores.csv", dtype=str)
    assert scores["customer_id"].str.match(TOKEN.pattern).all()
    assert len(set(scores["customer_id"])) == len(credit)
    raw = set(credit["customer_id"]) | set(credit["name"]) | set(credit["phone"])
    raw |= set(credit["id_number"])
    raw = {v for v in raw if len(v) >= 4}
    for path in pseudonymised_run.iterdir():
        if path.name == "reidentification.csv.enc":
            assert is_encrypted(path)
            continue
        data = path.read_bytes()
        found = [v for v in raw if v.encode("utf-8") in data]
        assert not found, f"{path.name} holds {found[:3]}"
    # the re-identification table gives back every id, for an admin only
    table = pseudonymised_run / "reidentification.csv.enc"
    admin = _env(keyfile)
    code, output = invoke(_env(keyfile, CUSTRISK_ROLE="analyst"), "decrypt", str(table))
    assert code == 2 and "may not decrypt" in output
    code, output = invoke(
        admin, "decrypt", str(table), "--out", str(pseudonymised_run.parent / "r.csv")
    )
    assert code == 0, output
    back = pd.read_csv(pseudonymised_run.parent / "r.csv", dtype=str)
    mapping = dict(zip(back["token"], back["value"], strict=True))
    assert sorted(mapping[t] for t in scores["customer_id"]) == sorted(credit["customer_id"])


def test_report_of_a_pseudonymised_run_by_a_clear_id_says_the_ids_are_tokens(
    pseudonymised_run: Path, export_200: Path, keyfile: Path, tmp_path: Path
) -> None:
    """--customers with a customer's id on a run read as tokens said only 'unknown
    customer id(s)'; it now says the run's ids are pseudonym tokens, in report and in
    alerts alike (alerts lacked the hint), naming the option as typed."""
    customer = _credit(export_200)["customer_id"].iloc[0]
    code, output = invoke(
        _env(keyfile), "report", str(pseudonymised_run / "scores.csv"),
        "--out", str(tmp_path / "reports"), "--customers", customer,
    )  # fmt: skip
    said = " ".join(output.split())
    assert code == 2 and "--customers: unknown customer id(s)" in said
    assert "are read as pseudonym tokens (psn_" in said
    code, output = invoke(_env(keyfile), "alerts", str(pseudonymised_run), "--customer", customer)
    said = " ".join(output.split())
    assert code == 2 and "--customer: unknown customer id(s)" in said
    assert "are read as pseudonym tokens (psn_" in said and "Traceback" not in said


def test_next_month_joins_on_the_tokens(
    pseudonymised_run: Path, export_200: Path, models_200: Path, keyfile: Path, tmp_path: Path
) -> None:
    code, output = invoke(
        _env(keyfile), "score", str(export_200), "-m", "logistic", "--models-dir",
        str(models_200), "--out", str(tmp_path / "scores.csv"), "--pseudonymise",
        "--previous", str(pseudonymised_run / "scores.csv"),
    )  # fmt: skip
    assert code == 0, output
    assert "stayed 200, new 0, departed 0" in output


def test_pseudonymise_without_a_pseudonym_key_is_a_clear_error(
    export_200: Path, tmp_path: Path
) -> None:
    only_enc = tmp_path / "keys.json"
    add_key(only_enc, new_key("encryption"))
    code, output = invoke(
        _env(only_enc), "validate", str(export_200), "--out", str(tmp_path / "v"),
        "--pseudonymise",
    )  # fmt: skip
    assert code == 2
    assert "pseudonym key" in output and "keys new --purpose pseudonym" in output
    assert not (tmp_path / "v").exists()


# -- roles -----------------------------------------------------------------------------


def _roles(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "roles.yaml"
    path.write_text(body, encoding="utf-8")
    return path


ME = pwd.getpwuid(os.getuid()).pw_name
ROLES = """
roles:
  analyst: {rights: []}
  risk_officer: {rights: []}
  admin: {rights: [clear_pii, decrypt]}
default_role: admin
users: {%s: analyst}
"""


def test_a_user_binding_decides_the_role_and_the_variable_only_lowers_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bound = _roles(tmp_path, ROLES % ME)
    monkeypatch.setenv("CUSTRISK_ROLES", str(bound))
    monkeypatch.delenv("CUSTRISK_ROLE", raising=False)
    caller = current_caller()
    assert (caller.user, caller.role.name, caller.bound) == (ME, "analyst", f"user {ME}")
    monkeypatch.setenv("CUSTRISK_ROLE", "admin")
    refused: list[Refusal] = []
    add_refusal_listener(refused.append)
    try:
        with pytest.raises(RoleRefused, match="may only lower"):
            current_caller()
        monkeypatch.setenv("CUSTRISK_ROLE", "risk_officer")  # no more rights: allowed
        assert current_caller().role.name == "risk_officer"
        with pytest.raises(RoleRefused, match="clear_pii"):
            require(CLEAR_PII, "write x")
    finally:
        remove_refusal_listener(refused.append)
    assert [(r.user, r.role, r.right) for r in refused] == [
        (ME, "analyst", "role"),
        (ME, "risk_officer", CLEAR_PII),
    ]
    monkeypatch.delenv("CUSTRISK_ROLES")
    monkeypatch.delenv("CUSTRISK_ROLE")
    assert current_caller(load_roles()).role.name == "admin"  # packaged: default admin


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("roles: {a: {rights: [root]}}\ndefault_role: a\n", "unknown right 'root'"),
        ("roles: {a: {rights: []}}\ndefault_role: b\n", "'b' is not a role"),
        ("roles: {a: {rights: []}}\ndefault_role: a\nusers: {x: z}\n", "key 'users.x'"),
        ("roles: {a: {rights: []}}\ndefault_role: a\noutput_group: nosuchgrp\n", "nosuchgrp"),
    ],
)
def test_a_bad_roles_config_names_the_key(tmp_path: Path, body: str, message: str) -> None:
    path = _roles(tmp_path, body)
    with pytest.raises(ConfigError, match=message):
        load_roles(path).output_gid()


def test_an_output_group_makes_outputs_0640_and_owned_by_it(
    export_200: Path, models_200: Path, keyfile: Path, tmp_path: Path
) -> None:
    import grp

    group = grp.getgrgid(os.getgid()).gr_name
    roles = _roles(tmp_path, f"{ROLES % 'nobody-else'}output_group: {group}\n")
    code, output = invoke(
        _env(keyfile, CUSTRISK_ROLES=str(roles)), "validate", str(export_200), "--out",
        str(tmp_path / "v"),
    )  # fmt: skip
    assert code == 0, output
    code, output = invoke(
        _env(keyfile, CUSTRISK_ROLES=str(roles)), "score", str(export_200), "-m", "logistic",
        "--models-dir", str(models_200), "--out", str(tmp_path / "s" / "run" / "scores.csv"),
        "--encrypt",
    )  # fmt: skip
    assert code == 0, output
    for folder in (tmp_path / "v", tmp_path / "s", tmp_path / "s" / "run"):
        assert oct(folder.stat().st_mode & 0o777) == oct(0o750)
        assert folder.stat().st_gid == os.getgid()
    files = [*(tmp_path / "v").iterdir(), *(tmp_path / "s" / "run").glob("*.enc")]
    assert len(files) == 7  # validation: 2; the run: scores, details, alerts, followups, facts
    for path in files:
        assert oct(path.stat().st_mode & 0o777) == oct(0o640), path.name
        assert path.stat().st_gid == os.getgid()


@pytest.fixture(scope="module")
def analyst_env(tmp_path_factory: pytest.TempPathFactory, keyfile: Path) -> dict[str, str]:
    roles = tmp_path_factory.mktemp("roles") / "roles.yaml"
    roles.write_text(ROLES % ME, encoding="utf-8")
    return _env(keyfile, CUSTRISK_ROLES=str(roles))


def test_an_analyst_cannot_produce_a_file_with_clear_pii_by_any_command(
    hostile_exports: Path,
    export_200: Path,
    models_200: Path,
    pseudonymised_run: Path,
    analyst_env: dict[str, str],
    keyfile: Path,
    tmp_path: Path,
) -> None:
    """Every command an analyst may run, with every option that could write personal
    data in clear: refused (exit 2, nothing written) or written masked."""
    out = tmp_path / "out"
    models = ["--models-dir", str(models_200), "-m", "logistic"]
    admin_run = tmp_path / "admin_run" / "scores.csv"
    code, output = invoke(_env(keyfile), "score", str(export_200), *models, "--out", str(admin_run))
    assert code == 0, output
    sealed = tmp_path / "sealed.csv.enc"
    code, output = invoke(
        _env(keyfile), "encrypt", str(export_200 / "credit.csv"), "--out", str(sealed)
    )
    assert code == 0, output
    refused = [
        ["validate", str(hostile_exports), "--out", f"{out}/v1", "--rejects-unmasked", f"{out}/u1.csv"],
        ["indicators", str(hostile_exports), "--out", f"{out}/i.csv", "--rejects-unmasked", f"{out}/u2.csv"],
        ["score", str(hostile_exports), *models, "--out", f"{out}/s/scores.csv", "--rejects-unmasked", f"{out}/u3.csv"],
        ["train", str(hostile_exports), "--labels", str(hostile_exports / "labels.csv"), "--models-dir", f"{out}/m", "--rejects-unmasked", f"{out}/u4.csv"],
        ["decrypt", str(sealed), "--out", f"{out}/credit.csv"],
        ["decrypt", str(pseudonymised_run / "reidentification.csv.enc"), "--out", f"{out}/r.csv"],
    ]  # fmt: skip
    for args in refused:
        code, output = invoke(analyst_env, *args)
        assert code == 2, (args, output)
        assert "role analyst" in output, output
    key_id = next(k for k in _key_ids(keyfile))
    code, output = invoke(analyst_env, "keys", "export", key_id, "--keyfile", str(keyfile))
    assert code == 2 and "role analyst" in output
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]

    allowed = [
        ["validate", str(hostile_exports), "--out", f"{out}/v"],
        ["validate", str(hostile_exports), "--out", f"{out}/vx", "--rejects-format", "xlsx"],
        ["indicators", str(hostile_exports), "--out", f"{out}/i.csv"],
        ["score", str(hostile_exports), *models, "--out", f"{out}/s/scores.xlsx"],
        ["score", str(hostile_exports), *models, "--out", f"{out}/p/scores.csv", "--pseudonymise"],
        ["alerts", str(admin_run.parent), "--format", "csv", "--out", f"{out}/a.csv"],
        ["alerts", str(admin_run.parent), "--out", f"{out}/a.xlsx"],
        ["train", str(hostile_exports), "--labels", str(hostile_exports / "labels.csv"), "--models-dir", f"{out}/m"],
        ["init", str(hostile_exports), "--out", f"{out}/configs"],
        ["encrypt", str(export_200 / "labels.csv"), "--out", f"{out}/l.csv.enc"],
    ]  # fmt: skip
    for args in allowed:
        code, output = invoke(analyst_env, *args)
        assert code in (0, 1), (args, output)
    # pseudonymised: the rejects name customers by their tokens only
    rejects = pd.read_csv(out / "p" / "scores.rejects.csv", dtype=str, keep_default_na=False)
    ids = rejects.loc[rejects["column"] == "customer_id", "value"]
    assert len(ids) and ids.str.match(TOKEN.pattern).all()
    assert is_encrypted(out / "p" / "reidentification.csv.enc")
    raw = _raw_pii(hostile_exports) | _raw_pii(export_200)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) > 15
    for path in files:
        data = path.read_bytes()
        found = [v for v in raw if v.encode("utf-8") in data]
        assert not found, f"{path.relative_to(out)} holds {found[:3]} in clear"


def _key_ids(keyfile: Path) -> list[str]:
    from custrisk.protect import read_keyfile

    return [k.id for k in read_keyfile(keyfile).keys]


def _raw_pii(export: Path) -> set[str]:
    """Every name, phone and id number of credit.csv (malformed rows included)."""
    with (export / "credit.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    positions = [header.index(c) for c in ("name", "phone", "id_number") if c in header]
    values = {row[i].strip() for row in rows[1:] for i in positions if i < len(row)}
    return {v for v in values if len(v.encode("utf-8")) >= 6}


def test_a_role_that_pseudonymises_does_so_without_the_option(
    export_200: Path, keyfile: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roles = _roles(
        tmp_path,
        (ROLES % ME).replace("analyst: {rights: []}", "analyst: {rights: [], pseudonymise: true}"),
    )
    env = _env(keyfile, CUSTRISK_ROLES=str(roles))
    code, output = invoke(env, "indicators", str(export_200), "--out", str(tmp_path / "i.csv"))
    assert code == 0, output
    assert "pseudonymises every output" in output
    ids = pd.read_csv(tmp_path / "i.csv", dtype=str)["customer_id"]
    assert ids.str.match(TOKEN.pattern).all()
    assert is_encrypted(tmp_path / "reidentification.csv.enc")
    # and the variable cannot take it away (risk_officer has no more rights, but no tokens)
    code, output = invoke({**env, "CUSTRISK_ROLE": "risk_officer"}, "indicators",
                          str(export_200), "--out", str(tmp_path / "j.csv"))  # fmt: skip
    assert code == 2 and "may only lower" in output
    assert not (tmp_path / "j.csv").exists()


# -- reading personal data by role -------------------------------------------------------


def test_a_role_without_clear_pii_loads_exports_masked(export_200: Path) -> None:
    from custrisk.data import load_workspace
    from custrisk.privacy import mask_id_number, mask_name, mask_phone
    from custrisk.protect.pseudonym import Masker, pseudonymising

    clear = load_workspace(export_200).frames["credit"]
    with pseudonymising(Masker()):
        masked = load_workspace(export_200).frames["credit"]
    assert list(masked["customer_id"]) == list(clear["customer_id"])  # ids kept
    for column, mask in (("name", mask_name), ("phone", mask_phone), ("id_number", mask_id_number)):
        assert list(masked[column]) == list(mask(clear[column])), column
        assert not set(masked[column].dropna()) & set(clear[column].dropna()), column


def _audit_lines(log: Path) -> list[dict[str, object]]:
    import json

    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def test_each_command_reads_personal_data_as_the_role_allows(
    export_200: Path, models_200: Path, keyfile: Path, tmp_path: Path
) -> None:
    """validate, indicators, score, report, alerts, followups and drift: an admin reads
    in clear, an
    analyst masked (and gets the admin's outputs, which hold masked data only), a role
    with pseudonymise: true pseudonymised; each audit line says which."""
    from custrisk.protect import load_keyring
    from custrisk.results import read_run

    analyst = _roles(tmp_path, ROLES % ME)
    tokens_dir = tmp_path / "psn"
    tokens_dir.mkdir()
    tokenising = _roles(
        tokens_dir,
        (ROLES % ME).replace("analyst: {rights: []}", "analyst: {rights: [], pseudonymise: true}"),
    )
    runs, envs = {}, {}
    for who, roles in (("admin", None), ("analyst", analyst), ("psn", tokenising)):
        out = tmp_path / who
        log = tmp_path / f"{who}.log"
        extra = {"CUSTRISK_AUDIT": "on", "CUSTRISK_AUDIT_LOG": str(log)}
        env = _env(keyfile, **extra, **({"CUSTRISK_ROLES": str(roles)} if roles else {}))
        models = ["-m", "logistic", "--models-dir", str(models_200)]
        run = out / "run" / "scores.csv"
        commands = [
            ["validate", str(export_200), "--out", str(out / "v")],
            ["indicators", str(export_200), "--out", str(out / "i.csv")],
            ["score", str(export_200), *models, "--out", str(run)],
        ]
        for args in commands:
            code, output = invoke(env, *args)
            assert code == 0, (who, args, output)
        scores = pd.read_csv(run, dtype=str)
        first = scores["customer_id"].iloc[0]
        report = ["report", str(run), "--out", str(out / "r"), "--customers", first]
        for args in (
            [*report, "--no-portfolio", "--workers", "0"],
            ["alerts", str(run), "--format", "csv", "--out", str(out / "a.csv")],
            ["followups", str(run), "--out", str(out / "f.csv")],
            ["drift", str(export_200), *models, "--fail-on", "never", "--out", str(out / "d.txt")],
        ):
            code, output = invoke(env, *args)
            assert code == 0, (who, args, output)
        lines = _audit_lines(log)
        assert [line["command"] for line in lines] == [
            "validate", "indicators", "score", "report", "alerts", "followups", "drift"
        ]  # fmt: skip
        expected = {"admin": "clear", "analyst": "masked", "psn": "pseudonymised"}[who]
        assert {(line["role"], line["facts"]["pii"]) for line in lines} == {
            ("admin" if who == "admin" else "analyst", expected)
        }
        runs[who], envs[who] = read_run(run), env
        assert (out / "r" / f"customer_{first}.pdf").is_file()
    # masked reading changes nothing the analyst gets: the outputs hold masked data only
    assert runs["analyst"].run_id == runs["admin"].run_id
    pd.testing.assert_frame_equal(runs["analyst"].details, runs["admin"].details)
    assert (tmp_path / "analyst" / "i.csv").read_bytes() == (
        tmp_path / "admin" / "i.csv"
    ).read_bytes()
    # pseudonymised reading: tokens in every output, the report named by its token
    key = load_keyring(keyfile).active("pseudonym")
    ids = list(runs["admin"].scores["customer_id"])
    assert list(runs["psn"].scores["customer_id"]) == [pseudonym(i, key) for i in ids]
    for name in ("i.csv", "a.csv"):
        column = pd.read_csv(tmp_path / "psn" / name, dtype=str)["customer_id"]
        assert column.str.match(TOKEN.pattern).all(), name
    # reading the admin's run (clear ids): the analyst gets it as the admin does, the
    # pseudonymising role gets tokens
    admin_run = str(tmp_path / "admin" / "run")
    shown = {who: invoke(envs[who], "alerts", admin_run, "--format", "csv") for who in envs}
    assert shown["analyst"] == shown["admin"] and shown["admin"][0] == 0
    assert shown["psn"][0] == 0
    assert not [i for i in ids if i in shown["psn"][1]]
    assert "psn_" in shown["psn"][1]


def test_a_pseudonymised_report_names_its_customers_by_their_ids(
    pseudonymised_run: Path, export_200: Path, keyfile: Path
) -> None:
    """report --pseudonymise --customers 0000000009 on a run read as tokens refused the
    id the user knows: 'name the customers by the tokens' they cannot compute."""
    from custrisk.protect.pseudonym import pseudonymiser, pseudonymising
    from custrisk.report import load_report_inputs
    from custrisk.report.inputs import select_customers

    customer = _credit(export_200)["customer_id"].iloc[0]
    active = pseudonymiser(keyfile=keyfile)
    with pseudonymising(active):
        inputs = load_report_inputs(pseudonymised_run / "scores.csv")
        chosen = select_customers(inputs, customers=[customer])
    assert chosen == [pseudonym(customer, active.key)]
    with pytest.raises(UsageError, match="unknown customer id"):  # no key: no token
        select_customers(inputs, customers=[customer])
