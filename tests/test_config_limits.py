"""Config limits: a hostile or broken YAML file is a one-line config error, never a hang.

A "billion laughs" file (nested aliases), a file nested hundreds of levels deep, a huge
file and a regular expression that only a backtracking engine runs must each stop with
exit 2 and a message naming the file and the key, before any data is read; a long flat
expression must simply work.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.config import default_config_path, load_sources_config
from custrisk.config._yaml import load_yaml_text
from custrisk.errors import ConfigError

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"


def _laughs(levels: int) -> str:
    """Each level repeats the previous one 9 times: 9**levels values once expanded."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    names = "abcdefghijklmnop"
    for previous, name in zip(names, names[1 : levels + 1], strict=False):
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + "\nsources: {}\n"


def _write(tmp_path: Path, text: str, name: str = "sources.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("Error: "), stderr
    return lines[0]


def test_aliases_that_expand_past_the_limit_are_refused_but_modest_aliases_load(
    tmp_path: Path,
) -> None:
    # 9**4 = 6,561 values: an unusual but harmless config reaches the sources checks
    with pytest.raises(ConfigError, match=r"key 'a': unknown key"):
        load_sources_config(_write(tmp_path, _laughs(3)))
    # 9**6 = 531,441 values once expanded: refused where the expansion passes the limit
    with pytest.raises(
        ConfigError,
        match=r"sources\.yaml:6:4, key 'f': the YAML holds more than 100000 values once its "
        r"aliases \(\*name\) are expanded",
    ):
        load_sources_config(_write(tmp_path, _laughs(5)))


@pytest.mark.parametrize(
    "text,where",
    [
        ("sources: " + "[" * 600 + "]" * 600 + "\n", r"key 'sources\[0\]\[0\]\[0\]"),
        ("sources: " + "{a: " * 600 + "1" + "}" * 600 + "\n", r"key 'sources\.a\.a\.a"),
        (
            "sources:\n" + "".join(f"{'  ' * (i + 1)}k{i}:\n" for i in range(600)) + "\n",
            r"key 'sources\.k0\.k1\.k2",
        ),
    ],
    ids=["flow sequences", "flow mappings", "block mappings"],
)
def test_yaml_nested_hundreds_of_levels_is_a_config_error(
    tmp_path: Path, text: str, where: str
) -> None:
    with pytest.raises(ConfigError, match=where + r".*: the YAML is nested more than 50 levels"):
        load_sources_config(_write(tmp_path, text))


def test_aliases_that_nest_past_the_depth_limit_are_refused(tmp_path: Path) -> None:
    # each alias sits one level deeper: only 2 levels as written, 60 once expanded
    text = "".join(f"x{i}: &x{i} [{f'*x{i - 1}' if i else 1}]\n" for i in range(60))
    with pytest.raises(
        ConfigError,
        match=r"key 'x48\[0\]': the YAML is nested more than 50 levels once its aliases",
    ):
        load_sources_config(_write(tmp_path, text))


@pytest.mark.parametrize(
    "text,key",
    [
        ("sources: &s {credit: *s}\n", r"sources\.credit"),
        ("sources: &s [1, *s]\n", r"sources\[1\]"),
        ("sources: &s {a: 1, <<: *s}\n", r"sources\.<<"),
    ],
)
def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(
        ConfigError, match=rf"key '{key}': alias \*s refers to the value that contains it"
    ):
        load_sources_config(_write(tmp_path, text))


def test_a_config_file_over_one_mib_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    text = default_config_path("sources.yaml").read_text(encoding="utf-8")
    padding = "# " + "x" * 1000 + "\n"
    path = _write(tmp_path, text + padding * 1100)
    with pytest.raises(
        ConfigError, match=r"sources\.yaml: config file is larger than 1,048,576 bytes"
    ):
        load_sources_config(path)


def test_a_folder_given_as_the_config_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r": is a folder, not a config file"):
        load_sources_config(tmp_path)


# -- patterns: RE2 only ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern,why",
    [
        (r"(?=.*\d)[a-z\d]+", "lookahead is not supported"),
        (r"(?![0-9])\w+", "lookahead is not supported"),
        (r"(?<=A)\d+", "lookbehind is not supported"),
        (r"(\d)\1+", "backreferences are not supported"),
        (r"(?P<d>\d)(?P=d)", "backreferences are not supported"),
        (r"\d++", "possessive quantifiers are not supported"),
        (r"(?>\d+)", "atomic groups are not supported"),
        (r"[A-Z]{2}\d+\Z", r"invalid escape sequence: \\Z"),
        (r"\d+)|(.*", r"unexpected \): \S+"),
    ],
)
def test_a_pattern_re2_cannot_run_is_refused_at_load(
    tmp_path: Path, pattern: str, why: str
) -> None:
    text = (
        "sources:\n  credit:\n    file: credit.csv\n    key: customer_id\n    columns:\n"
        "      customer_id: {type: id, required: true}\n"
        f"      code: {{type: string, pattern: '{pattern}'}}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_sources_config(_write(tmp_path, text))
    message = str(info.value)
    assert message.startswith(
        f"{tmp_path / 'sources.yaml'}, key 'sources.credit.columns.code.pattern': "
        f"invalid regular expression {pattern!r}: "
    )
    assert re.search(rf": {why}; patterns use RE2 syntax", message), message


# -- through the CLI -----------------------------------------------------------------------


def _packaged_sources_with(old: str, new: str) -> str:
    text = default_config_path("sources.yaml").read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new)


def test_validate_stops_a_billion_laughs_sources_file_with_exit_2(tmp_path: Path) -> None:
    # 9 levels: 387 million values once expanded; the old reader spent minutes on it.
    # A subprocess with a timeout, so that a regression fails instead of hanging CI.
    config = _write(tmp_path, _laughs(8))
    done = subprocess.run(
        [sys.executable, "-m", "custrisk", "validate", str(SAMPLE_DATA), "--config", str(config)]
        + ["--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 2, done.stderr
    line = _one_line_error(done.stderr)
    assert f"{config}:6:4, key 'f': the YAML holds more than 100000 values" in line
    assert not (tmp_path / "out").exists()


def test_validate_reports_a_deeply_nested_sources_file_in_one_line(
    runner: CliRunner, tmp_path: Path
) -> None:
    config = _write(tmp_path, "sources: " + "[" * 600 + "]" * 600 + "\n")
    result = runner.invoke(
        app, ["validate", str(SAMPLE_DATA), "--config", str(config), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2, result.output
    line = _one_line_error(result.stderr)
    assert re.search(
        rf"{re.escape(str(config))}:1:\d+, key 'sources\[0\].*: the YAML is nested more than 50",
        line,
    )


def test_validate_refuses_a_lookahead_pattern_before_reading_data(
    runner: CliRunner, tmp_path: Path
) -> None:
    config = _write(
        tmp_path,
        _packaged_sources_with("check: cn_phone", r"pattern: '(?=(\d+)+$)1[3-9][0-9]{9}'"),
    )
    result = runner.invoke(
        app, ["validate", str(SAMPLE_DATA), "--config", str(config), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2, result.output
    line = _one_line_error(result.stderr)
    assert (
        f"{config}, key 'sources.credit.columns.phone.pattern': invalid regular expression "
        r"'(?=(\\d+)+$)1[3-9][0-9]{9}': lookahead is not supported; patterns use RE2 syntax"
    ) in line
    assert not (tmp_path / "o").exists()


def test_indicators_computes_an_expression_with_600_terms(
    runner: CliRunner, tmp_path: Path
) -> None:
    config = _write(
        tmp_path,
        "version: 1\nindicators:\n  long_sum:\n    label: {zh: 长和, en: Long sum}\n"
        "    direction: none\n    expr: " + " + ".join(["1"] * 601) + "\n",
        name="indicators.yaml",
    )
    out = tmp_path / "indicators.csv"
    result = runner.invoke(
        app,
        ["indicators", str(SAMPLE_DATA), "-o", str(out), "--config", str(config)]
        + ["--as-of", "2024-06-30"],
    )
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "customer_id,long_sum"
    assert {line.split(",")[1] for line in lines[1:]} == {"601.0"}


@pytest.mark.parametrize(
    "text,message",
    [
        ("a:\n  b: 1\n\tc: 2\n", r"c\.yaml:3:1: invalid YAML: .*tab.*; indent with spaces"),
        (
            "a:\n\tb: 1\n",
            r"c\.yaml:2:1: invalid YAML: found character '\\t' .*; indent with spaces",
        ),
        ("名称: @x\n", r"c\.yaml:1:5: invalid YAML: found character '@' that cannot start"),
        ("a: [1, 2\n", r"c\.yaml:2:1: invalid YAML: .*','.*']'; fix the YAML syntax"),
    ],
)
def test_a_syntax_error_names_its_line_column_and_character(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_yaml_text(text, "c.yaml")
