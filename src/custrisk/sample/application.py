"""Synthetic credit applications: new customers' fields at application time, with the
outcome a year later, for an application model (no history yet) and ``custrisk serve``.

``application.csv`` is the training table (one row per applicant, ``违约`` 是/否);
``application_next.csv`` is the next batch of applicants, without the outcome, to score
in batch or one by one over HTTP. One latent risk per applicant drives every field
through its own noise, seeded, so the same arguments give byte-identical files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from custrisk.errors import UsageError
from custrisk.io.atomic import atomic_open, ensure_dir
from custrisk.sample._base import (
    _GIVEN_FEMALE,
    _GIVEN_MALE,
    _INDUSTRY_RISK,
    _INDUSTRY_SHARE,
    _PHONE_PREFIXES,
    _REGION_RISK,
    _REGION_SHARE,
    _SURNAMES,
    INDUSTRIES,
    REGIONS,
)

APPLICATION_FILE = "application.csv"
APPLICATION_NEXT_FILE = "application_next.csv"
#: The outcome column of the training table (是: defaulted within a year).
APPLICATION_TARGET = "违约"
EDUCATION = ("研究生", "本科", "大专", "高中及以下")
_EDUCATION_SHARE = (0.08, 0.37, 0.30, 0.25)
_EDUCATION_RISK = (-0.35, -0.15, 0.10, 0.30)
_INTERCEPT = -2.9
_SLOPE = 1.3
MAX_APPLICANTS = 5_000_000


@dataclass(frozen=True)
class ApplicationSummary:
    """What :func:`generate_applications` wrote."""

    paths: dict[str, Path]
    rows: dict[str, int]
    bad_rate: float


def application_frame(applicants: int, *, seed: int = 42, first_id: int = 1) -> pd.DataFrame:
    """Applicants' fields with Chinese headers and the outcome (``违约``) of each."""
    if not 1 <= applicants <= MAX_APPLICANTS:
        raise UsageError(
            f"--customers must be between 1 and {MAX_APPLICANTS:,} for --format "
            f"application; got {applicants}"
        )
    rng = np.random.default_rng([seed, 18, first_id])
    n = applicants
    region = rng.choice(len(REGIONS), size=n, p=_REGION_SHARE)
    industry = rng.choice(len(INDUSTRIES), size=n, p=_INDUSTRY_SHARE)
    education = rng.choice(len(EDUCATION), size=n, p=_EDUCATION_SHARE)
    risk = (
        rng.standard_normal(n)
        + np.asarray(_REGION_RISK)[region] * 2
        + np.asarray(_INDUSTRY_RISK)[industry] * 2
        + np.asarray(_EDUCATION_RISK)[education] * 2
    )
    age = np.clip(np.round(38 - 4 * risk + rng.normal(0, 8, n)), 20, 70).astype(np.int64)
    years = np.clip(np.round(age - 22 - rng.uniform(0, 10, n)), 0, 45).astype(np.int64)
    income = np.round(np.exp(9.2 - 0.25 * risk + rng.normal(0, 0.35, n)), -1)
    dti = np.clip(np.round(0.35 + 0.09 * risk + rng.normal(0, 0.1, n), 3), 0.0, 1.5)
    amount = np.round(income * rng.uniform(1.5, 6.0, n), -3)
    overdue = rng.poisson(np.exp(-0.8 + 0.7 * risk))
    inquiries = rng.poisson(np.exp(0.6 + 0.35 * risk))
    owns_home = rng.random(n) < 1 / (1 + np.exp(0.4 + 0.8 * risk))
    pd_true = 1 / (1 + np.exp(-(_INTERCEPT + _SLOPE * risk)))
    bad = rng.random(n) < pd_true
    # Applicants leave some fields blank: income and years at work are optional.
    income_text = np.where(rng.random(n) < 0.03, "", [f"{v:.0f}" for v in income])
    years_text = np.where(rng.random(n) < 0.02, "", years.astype(str))
    surname = rng.choice(list(_SURNAMES), size=n)
    given = np.where(
        rng.random(n) < 0.5,
        rng.choice(list(_GIVEN_MALE), size=n),
        rng.choice(list(_GIVEN_FEMALE), size=n),
    )
    phones = [
        f"{p}{d:08d}"
        for p, d in zip(
            rng.choice(_PHONE_PREFIXES, size=n), rng.integers(0, 10**8, size=n), strict=True
        )
    ]
    return pd.DataFrame(
        {
            "客户编号": [f"AP{first_id + i:08d}" for i in range(n)],
            "姓名": np.char.add(surname.astype(str), given.astype(str)),
            "手机号": phones,
            "年龄": age,
            "地区": np.asarray(REGIONS)[region],
            "行业": np.asarray(INDUSTRIES)[industry],
            "学历": np.asarray(EDUCATION)[education],
            "月收入": income_text,
            "负债收入比": dti,
            "工作年限": years_text,
            "申请额度": amount.astype(np.int64),
            "历史逾期次数": overdue,
            "近6月征信查询次数": inquiries,
            "有房产": np.where(owns_home, "是", "否"),
            APPLICATION_TARGET: np.where(bad, "是", "否"),
        }
    )


def generate_applications(
    out_dir: str | Path, *, applicants: int = 2000, seed: int = 42
) -> ApplicationSummary:
    """Write ``application.csv`` (``applicants`` rows with the outcome) and
    ``application_next.csv`` (a fifth as many new applicants, no outcome) into ``out_dir``."""
    out = Path(out_dir)
    ensure_dir(out)
    train = application_frame(applicants, seed=seed)
    following = application_frame(max(applicants // 5, 1), seed=seed + 1, first_id=applicants + 1)
    following = following.drop(columns=[APPLICATION_TARGET])
    paths = {
        APPLICATION_FILE: out / APPLICATION_FILE,
        APPLICATION_NEXT_FILE: out / APPLICATION_NEXT_FILE,
    }
    for frame, path in (
        (train, paths[APPLICATION_FILE]),
        (following, paths[APPLICATION_NEXT_FILE]),
    ):
        with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
            frame.to_csv(handle, index=False, lineterminator="\n")
    return ApplicationSummary(
        paths=paths,
        rows={APPLICATION_FILE: len(train), APPLICATION_NEXT_FILE: len(following)},
        bad_rate=float((train[APPLICATION_TARGET] == "是").mean()),
    )
