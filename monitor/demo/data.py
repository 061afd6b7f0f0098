"""Deterministic synthetic fund ledgers: the demo city and worlds of any size.

ALL FIGURES HERE ARE SYNTHETIC. The demo city uses the real GB/T 2260 codes and names of
池州市 (341700) and its four county-level regions so that it looks like the ledgers offices
send, but every amount and head-count is invented: shapes follow DESIGN.md (collection
periods, subsidy lumps, Spring Festival dip, December peak, the 2020 dip, the 2023
employee outpatient mutual-aid reform) and the 2023 city totals are calibrated to the
published reference figures (income 20.29, expenditure 17.44, balance 14.04 亿元).

Everything is pure (no I/O) and vectorised with numpy: one seed gives identical frames.
Amounts are int64 fen (1/100 yuan); every series reconciles exactly:
balance[t] = balance[t-1] + income[t] - expenditure[t], income = sum of its sources,
expenditure = sum of its kinds.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import NamedTuple, TypeVar

import numpy as np
import pandas as pd

from monitor.core.columns import COLUMNS
from monitor.core.months import month_from_index, parse_month

_Frame = TypeVar("_Frame", pd.Series, pd.DataFrame)

LEDGER_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS)
INCOME_PARTS: tuple[str, ...] = (
    "income_contribution", "income_subsidy", "income_interest", "income_other",
)  # fmt: skip
EXPENDITURE_PARTS: tuple[str, ...] = (
    "exp_inpatient", "exp_outpatient", "exp_chronic", "exp_pharmacy", "exp_other",
)  # fmt: skip
TRUTH_COLUMNS: tuple[str, ...] = (
    "region_code", "fund", "kind", "start_month", "end_month", "magnitude",
)  # fmt: skip

# Month of the Spring Festival (New Year's Day of the lunar calendar); hospital activity
# drops in that month and catches up in the next. Outside the table: February.
SPRING_FESTIVAL_MONTH: dict[int, int] = {
    2010: 2, 2011: 2, 2012: 1, 2013: 2, 2014: 1, 2015: 2, 2016: 2, 2017: 1, 2018: 2,
    2019: 2, 2020: 1, 2021: 2, 2022: 2, 2023: 1, 2024: 2, 2025: 1, 2026: 2, 2027: 2,
    2028: 1, 2029: 2, 2030: 2,
}  # fmt: skip

# The 31 provincial-level codes of GB/T 2260 (mainland).
PROVINCE_CODES: tuple[str, ...] = (
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36",
    "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62",
    "63", "64", "65",
)  # fmt: skip

# Series shapes. Funds other than the three known ones (long-term care …) follow the
# employee pattern without the 2023 reform.
_EMP, _RES, _MAT, _OTHER = 0, 1, 2, 3
_SHAPE_OF_FUND = {"employee": _EMP, "resident": _RES, "maternity": _MAT}

# Expenditure by calendar month before the festival effect: December is the year-end
# settlement peak, October has the National Day holiday.
_EXP_SEASON = np.array([1.00, 1.00, 1.02, 0.99, 0.99, 1.01, 1.00, 1.00, 0.99, 0.95, 1.02, 1.24])
_FESTIVAL_DIP, _FESTIVAL_CATCH_UP = 0.80, 1.05
# Employee contributions: mild, with year-start and year-end catch-up and the July base reset.
_EMP_INCOME_SEASON = np.array(
    [1.03, 0.97, 1.00, 1.00, 1.00, 1.00, 1.02, 1.00, 1.00, 1.00, 0.98, 1.03]
)
# 2020: fewer hospital visits Feb–May; employer contributions halved Feb–Jun (阶段性减征).
_COVID_EXP = {(2020, 2): 0.72, (2020, 3): 0.80, (2020, 4): 0.90, (2020, 5): 0.97}
_COVID_CONTRIBUTION = 0.60
# 门诊共济保障改革 from 2023-01: the employer share that went to individual accounts now goes
# to the pooled fund (income up), and the pooled fund pays general outpatient care.
_REFORM_MONTH = 2023 * 12
_REFORM_INCOME, _REFORM_OUTPATIENT = 1.35, 1.80

# Income sources as fractions of the income level, per shape: contribution, subsidy,
# interest, other.
_INCOME_SHARES = np.array(
    [
        [0.978, 0.008, 0.010, 0.004],  # employee: small retiree subsidy in December
        [0.360, 0.620, 0.012, 0.008],  # resident: fiscal subsidies are most of the income
        [0.985, 0.000, 0.008, 0.007],  # maternity
        [0.978, 0.008, 0.010, 0.004],  # other: as employee
    ]
)
# Expenditure kinds: inpatient, outpatient, chronic, pharmacy, other (maternity allowance
# 生育津贴 goes to "other").
_EXP_SHARES = np.array(
    [
        [0.52, 0.08, 0.16, 0.18, 0.06],
        [0.70, 0.10, 0.12, 0.02, 0.06],
        [0.40, 0.10, 0.00, 0.00, 0.50],
        [0.52, 0.08, 0.16, 0.18, 0.06],
    ]
)
_EXP_NOISE = np.array([0.03, 0.05, 0.04, 0.05, 0.08])
_RES_TRICKLE = 0.005  # resident contributions per month outside the collection periods
_RES_COLLECTION = np.array([0.12, 0.28, 0.32, 0.28])  # Sep–Dec shares of the main period
_RES_SUBSIDY_SHARES = np.array([0.40, 0.35, 0.25])


def _empty_truth() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="str") for c in TRUTH_COLUMNS[:-1]}).assign(
        magnitude=pd.Series(dtype="float64")
    )


@dataclass(frozen=True)
class DemoWorld:
    """Regions, their ledgers, and (for synthetic worlds) the trouble injected.

    `ledger` has one row per county-level region, fund and month in canonical columns
    (amounts in int64 fen); cities and provinces appear only in `regions`, to be rolled up.
    `truth` has one row per series: kind 'drift' | 'shock' | 'recovery' | 'none', the month
    the trouble starts, for 'recovery' the month it ends, and its size (drift: extra annual
    expenditure growth; shock: log step of expenditure).
    """

    regions: pd.DataFrame
    ledger: pd.DataFrame
    truth: pd.DataFrame = field(default_factory=_empty_truth)


# --------------------------------------------------------------------------- months


def _month_index(text: str) -> int:
    month = parse_month(text)
    if month is None:
        raise ValueError(f"bad month {text!r}, expected YYYY-MM")
    return int(month[:4]) * 12 + int(month[5:]) - 1


def _month_texts(first: int, count: int) -> np.ndarray:
    return np.array([month_from_index(first + i) for i in range(count)])


# --------------------------------------------------------------------------- simulation


@dataclass(frozen=True)
class _Spec:
    """Per-series parameters (arrays of length S). Month indices count from the start."""

    shape: np.ndarray  # _EMP | _RES | _MAT
    exp0: np.ndarray  # expenditure trend level at the start, yuan per month
    ratio0: np.ndarray  # income level / expenditure level at the start
    g_exp: np.ndarray  # annual log growth
    g_inc: np.ndarray
    t_drift: np.ndarray  # drift starts (index); drift stops and recovery steps in at t_end
    t_end: np.ndarray
    drift_exp: np.ndarray  # extra annual log growth while drifting
    drift_inc: np.ndarray
    t_shock: np.ndarray
    shock: np.ndarray  # log step of expenditure at t_shock
    recovery: np.ndarray  # log step of income at t_end
    jan_feb: np.ndarray  # resident: share of a year's contributions collected in Jan–Feb
    sub_months: np.ndarray  # resident subsidy lumps: S × years (+1) × 3 calendar months
    noise: np.ndarray  # noise multiplier


def _lognoise(
    rng: np.random.Generator, sigma: np.ndarray | float, shape: tuple[int, int]
) -> np.ndarray:
    # mean-one multiplicative noise, so noise does not move the calibrated levels
    sigma = np.broadcast_to(sigma, shape)
    return np.exp(sigma * rng.standard_normal(shape) - sigma**2 / 2)


def _subsidy_months(rng: np.random.Generator, n: int, count: int) -> np.ndarray:
    """Per series and year, the three months its subsidy arrives in: March or April, June or
    July, November or December."""
    n_years = count // 12 + 2
    return np.stack(
        [
            rng.choice([3, 4], (n, n_years + 1)),
            rng.choice([6, 7], (n, n_years + 1)),
            rng.choice([11, 12], (n, n_years + 1)),
        ],
        axis=2,
    )


def _simulate(
    spec: _Spec, first: int, count: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Income sources and expenditure kinds, float yuan, each S × T."""
    n = len(spec.shape)
    t = np.arange(count)
    a = first + t
    year, cal = a // 12, a % 12 + 1
    year0 = int(year[0])
    col = (n, count)

    # calendar effects shared by all series
    festival = np.array([SPRING_FESTIVAL_MONTH.get(int(y), 2) for y in year])
    season = _EXP_SEASON[cal - 1].copy()
    season[cal == festival] *= _FESTIVAL_DIP
    season[cal == festival + 1] *= _FESTIVAL_CATCH_UP
    covid_exp = np.array(
        [_COVID_EXP.get((int(y), int(m)), 1.0) for y, m in zip(year, cal, strict=True)]
    )
    covid_cut = np.where((year == 2020) & (cal >= 2) & (cal <= 6), _COVID_CONTRIBUTION, 1.0)
    reformed = a >= _REFORM_MONTH

    def window(tt: np.ndarray) -> np.ndarray:  # months spent drifting by tt, in years
        td, te = spec.t_drift[:, None], spec.t_end[:, None]
        return np.clip(tt - td, 0, np.maximum(te - td, 0)) / 12

    def income_level(tt: np.ndarray) -> np.ndarray:
        return np.exp(
            np.log(spec.exp0 * spec.ratio0)[:, None]
            + spec.g_inc[:, None] * tt / 12
            + spec.drift_inc[:, None] * window(tt)
            + spec.recovery[:, None] * (tt >= spec.t_end[:, None])
        )

    exp_level = np.exp(
        np.log(spec.exp0)[:, None]
        + spec.g_exp[:, None] * t[None, :] / 12
        + spec.drift_exp[:, None] * window(t[None, :])
        + spec.shock[:, None] * (t[None, :] >= spec.t_shock[:, None])
    )
    employee = (spec.shape == _EMP)[:, None]
    resident = (spec.shape == _RES)[:, None]
    noise = spec.noise[:, None]

    parts: dict[str, np.ndarray] = {}
    base = exp_level * (season * covid_exp)[None, :]
    for k, name in enumerate(EXPENDITURE_PARTS):
        share = _EXP_SHARES[spec.shape, k][:, None]
        if name == "exp_outpatient":
            share = share * np.where(employee & reformed[None, :], _REFORM_OUTPATIENT, 1.0)
        parts[name] = base * share * _lognoise(rng, _EXP_NOISE[k] * noise, col)

    shares = _INCOME_SHARES[spec.shape]  # S × 4
    level = income_level(t[None, :])

    # employee-like: monthly contributions, December subsidy, quarterly interest
    contribution = (
        level * shares[:, :1] * (_EMP_INCOME_SEASON[cal - 1] * covid_cut)[None, :]
        * np.where(employee & reformed[None, :], _REFORM_INCOME, 1.0)
        * _lognoise(rng, 0.02 * noise, col)
    )  # fmt: skip
    subsidy = level * shares[:, 1:2] * 12 * (cal == 12)[None, :] * _lognoise(rng, 0.02, col)
    interest = level * shares[:, 2:3] * 3 * (cal % 3 == 0)[None, :] * _lognoise(rng, 0.05, col)

    # resident: a coverage year's money, fixed at its mid-year level, arrives as
    # contributions collected Sep–Dec of the year before and Jan–Feb (plus a trickle),
    # subsidies in three lumps in the year, interest once a year.
    years = np.arange(year0, int(year[-1]) + 2)
    annual = 12 * income_level((years * 12 + 6 - first)[None, :])  # S × (years+1)
    cover = year + (cal >= 9) - year0
    jf = spec.jan_feb[:, None]
    main = 1 - jf - 6 * _RES_TRICKLE
    res_share = np.select(
        [cal[None, :] == 1, cal[None, :] == 2, cal[None, :] >= 9],
        [jf * 0.6, jf * 0.4, main * _RES_COLLECTION[np.clip(cal - 9, 0, 3)][None, :]],
        _RES_TRICKLE,
    )
    res_contribution = (
        annual[:, cover] * shares[:, :1] * res_share * _lognoise(rng, 0.05 * noise, col)
    )
    lumps = np.zeros(col)
    for j, share in enumerate(_RES_SUBSIDY_SHARES):
        lumps += share * (spec.sub_months[:, year - year0, j] == cal[None, :])
    this_year = annual[:, year - year0]
    res_subsidy = this_year * shares[:, 1:2] * lumps * _lognoise(rng, 0.02, col)
    res_interest = this_year * shares[:, 2:3] * (cal == 12)[None, :] * _lognoise(rng, 0.05, col)

    parts["income_contribution"] = np.where(resident, res_contribution, contribution)
    parts["income_subsidy"] = np.where(resident, res_subsidy, subsidy)
    parts["income_interest"] = np.where(resident, res_interest, interest)
    parts["income_other"] = level * shares[:, 3:4] * _lognoise(rng, 0.3, col)
    return parts


def _to_fen(
    parts: dict[str, np.ndarray], k_inc: np.ndarray, k_exp: np.ndarray
) -> dict[str, np.ndarray]:
    """Scale per series and round each part to fen; totals are sums of the rounded parts."""
    out = {}
    for name in INCOME_PARTS:
        out[name] = np.rint(parts[name] * (k_inc[:, None] * 100)).astype(np.int64)
    for name in EXPENDITURE_PARTS:
        out[name] = np.rint(parts[name] * (k_exp[:, None] * 100)).astype(np.int64)
    out["income"] = sum((out[p] for p in INCOME_PARTS), np.zeros_like(out["exp_other"]))
    out["expenditure"] = sum((out[p] for p in EXPENDITURE_PARTS), np.zeros_like(out["exp_other"]))
    return out


def _insured(
    shape: np.ndarray,
    persons0: np.ndarray,
    growth: np.ndarray,
    retired0: np.ndarray,
    first: int,
    count: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Insured, active, retired persons (int64, S × T); active/retired meaningful for employee.

    Resident enrolment is per year (constant within it); employees change month by month,
    and the retirees' share rises about 0.7 points a year.
    """
    t = np.arange(count)
    a = first + t
    resident = (shape == _RES)[:, None]
    months = np.where(resident, (a // 12 * 12 - first)[None, :], t[None, :])
    wobble = np.where(resident, 1.0, 1 + 0.002 * rng.standard_normal((len(shape), count)))
    insured = np.rint(persons0[:, None] * np.exp(growth[:, None] * months / 12) * wobble)
    retired_share = retired0[:, None] + 0.007 * t[None, :] / 12
    retired = np.rint(insured * retired_share)
    return insured.astype(np.int64), (insured - retired).astype(np.int64), retired.astype(np.int64)


def _ledger_frame(
    counties: pd.DataFrame,
    funds: Sequence[str],
    first: int,
    count: int,
    money: dict[str, np.ndarray],
    insured: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> pd.DataFrame:
    """Long canonical ledger; series s = county index × len(funds) + fund index."""
    n_funds = len(funds)
    per_county = n_funds * count
    months = _month_texts(first, count)
    is_employee = np.repeat(np.tile(np.array(funds) == "employee", len(counties)), count)

    def county_col(name: str) -> np.ndarray:
        return np.repeat(counties[name].to_numpy(dtype=object), per_county)

    def counts(values: np.ndarray, employee_only: bool) -> pd.arrays.IntegerArray:
        flat = values.reshape(-1)
        mask = ~is_employee if employee_only else np.zeros(flat.shape, dtype=bool)
        return pd.arrays.IntegerArray(flat, mask)

    data: dict[str, object] = {
        "region_code": county_col("region_code"),
        "region_name": county_col("region_name"),
        "parent_code": county_col("parent_code"),
        "parent_name": county_col("parent_name"),
        "fund": np.tile(np.repeat(np.array(funds, dtype=object), count), len(counties)),
        "month": np.tile(months.astype(object), len(counties) * n_funds),
    }
    data["balance"] = money["balance"].reshape(-1)
    for name in ("income", "expenditure", *INCOME_PARTS, *EXPENDITURE_PARTS):
        data[name] = money[name].reshape(-1)
    data["insured"] = counts(insured[0], False)
    data["insured_active"] = counts(insured[1], True)
    data["insured_retired"] = counts(insured[2], True)
    frame = pd.DataFrame(data)
    for name in ("region_code", "region_name", "parent_code", "parent_name", "fund", "month"):
        frame[name] = _as_text(frame[name])
    return frame[list(LEDGER_COLUMNS)]


def _balances(income: np.ndarray, expenditure: np.ndarray, opening: np.ndarray) -> np.ndarray:
    return opening[:, None] + np.cumsum(income - expenditure, axis=1)


# --------------------------------------------------------------------------- demo city

_YI = 100_000_000 * 100  # fen per 亿元
DEMO_START, DEMO_END = "2016-01", "2024-12"
DEMO_FUNDS: tuple[str, ...] = ("employee", "resident")
# Published 2023 figures the demo is calibrated to (亿元).
REFERENCE_2023 = {"income": 20.29, "expenditure": 17.44, "balance": 14.04}

DEMO_REGIONS: tuple[tuple[str, str, str | None, str], ...] = (
    ("340000", "安徽省", None, "province"),
    ("341700", "池州市", "340000", "city"),
    ("341702", "贵池区", "341700", "county"),
    ("341721", "东至县", "341700", "county"),
    ("341722", "石台县", "341700", "county"),
    ("341723", "青阳县", "341700", "county"),
)


class _DemoSeries(NamedTuple):
    exp23: float  # 2023 expenditure, 亿元
    inc23: float  # 2023 income, 亿元
    payable: float | None  # payable months at 2024-12; None: the series closing the balance
    persons23: float  # insured persons in 2023, thousands
    g_exp: float = 0.075  # annual (log) growth
    g_inc: float = 0.080
    drift_from: str | None = None  # the month the fund starts to drift
    drift_exp: float = 0.0  # extra annual growth while drifting
    drift_inc: float = 0.0
    shock_at: str | None = None  # a step up in expenditure
    shock: float = 0.0
    jan_feb: float = 0.0  # resident contributions collected in Jan–Feb
    subsidy_months: tuple[int, int, int] = (3, 7, 12)  # resident subsidy lumps
    retired16: float = 0.0  # retirees' share of employee insured in 2016


# (county, fund) → story. 2023 expenditure sums to 17.44 and income to 20.29 亿元; the
# opening balances are solved so that the payable months at 2024-12 are as given and the
# city's end-2023 balance is 14.04 亿元 (贵池区 employee takes the remainder).
# - 贵池区 (the city seat, largest): employee flush (excess balance); resident healthy.
# - 东至县 resident: from 2021 a shrinking enrolment's income is outgrown by spending: red,
#   still falling, 2024 in deficit. 东至县 employee healthy.
# - 石台县 (small, mountainous): resident always thin (orange); employee healthy.
# - 青阳县 employee: many retirees, spending drifts up from mid-2021 and jumps with the 2023
#   outpatient reform more than its income does: yellow, 2024 in deficit. Resident healthy.
# Employees' pooled income jumps with the 2023 reform everywhere, so their payable months
# rise steeply in 2023–2024, as they did in many cities.
_DEMO_SERIES: dict[tuple[str, str], _DemoSeries] = {
    ("341702", "employee"): _DemoSeries(4.60, 6.685, None, 95, g_inc=0.105, retired16=0.24),
    ("341702", "resident"): _DemoSeries(3.70, 4.03, 11.0, 400, jan_feb=0.25),
    ("341721", "employee"): _DemoSeries(
        1.50, 1.95, 12.5, 29, g_exp=0.070, g_inc=0.075, retired16=0.26
    ),
    ("341721", "resident"): _DemoSeries(
        3.40, 3.08, 2.4, 318, g_exp=0.070, g_inc=0.070, drift_from="2021-01",
        drift_exp=0.030, drift_inc=-0.020, jan_feb=0.20, subsidy_months=(3, 6, 11),
    ),
    ("341722", "employee"): _DemoSeries(
        0.42, 0.54, 12.0, 8.2, g_exp=0.070, g_inc=0.075, retired16=0.28
    ),
    ("341722", "resident"): _DemoSeries(
        0.72, 0.735, 5.2, 74, g_exp=0.070, g_inc=0.070, jan_feb=0.35, subsidy_months=(3, 6, 11)
    ),
    ("341723", "employee"): _DemoSeries(
        1.25, 1.26, 7.3, 20, g_inc=0.070, drift_from="2021-07", drift_exp=0.045,
        shock_at="2023-01", shock=0.20, retired16=0.32,
    ),
    ("341723", "resident"): _DemoSeries(
        1.85, 2.01, 11.3, 200, jan_feb=0.25, subsidy_months=(4, 7, 12)
    ),
}  # fmt: skip


def demo_city(seed: int = 2024) -> DemoWorld:
    """池州市 with its four county-level regions, `employee` and `resident`, 2016-01..2024-12.

    Synthetic data (see the module docstring). Calibrated so that 2023 city totals match the
    reference and, at 2024-12 under the default profile, 东至县 resident is red (and falling,
    2024 in deficit), 石台县 resident orange, 青阳县 employee yellow (2024 in deficit),
    贵池区 employee above 15 payable months (excess balance), the other four green.
    """
    rng = np.random.default_rng(seed)
    first = _month_index(DEMO_START)
    count = _month_index(DEMO_END) - first + 1
    n_years = count // 12 + 1
    keys = list(_DEMO_SERIES)
    p = [_DEMO_SERIES[k] for k in keys]
    n = len(keys)
    never = np.full(n, count + 1200)

    def at(months: list[str | None]) -> np.ndarray:
        return np.array([_month_index(m) - first if m else count + 1200 for m in months])

    def arr(name: str) -> np.ndarray:
        return np.array([getattr(s, name) for s in p], dtype=float)

    spec = _Spec(
        shape=np.array([_SHAPE_OF_FUND[fund] for _, fund in keys]),
        exp0=np.ones(n),
        ratio0=np.ones(n),
        g_exp=arr("g_exp"),
        g_inc=arr("g_inc"),
        t_drift=at([s.drift_from for s in p]),
        t_end=never,
        drift_exp=arr("drift_exp"),
        drift_inc=arr("drift_inc"),
        t_shock=at([s.shock_at for s in p]),
        shock=arr("shock"),
        recovery=np.zeros(n),
        jan_feb=arr("jan_feb"),
        sub_months=np.broadcast_to(
            np.array([s.subsidy_months for s in p])[:, None, :], (n, n_years + 1, 3)
        ),
        noise=np.ones(n),
    )
    parts = _simulate(spec, first, count, rng)

    # Scale each series so its 2023 totals are the table's, then round to fen.
    in23 = (first + np.arange(count)) // 12 == 2023
    in24 = (first + np.arange(count)) // 12 == 2024
    inc: np.ndarray = reduce(operator.add, (parts[name] for name in INCOME_PARTS))
    exp: np.ndarray = reduce(operator.add, (parts[name] for name in EXPENDITURE_PARTS))
    k_inc = arr("inc23") * _YI / 100 / inc[:, in23].sum(axis=1)
    k_exp = arr("exp23") * _YI / 100 / exp[:, in23].sum(axis=1)
    money = _to_fen(parts, k_inc, k_exp)

    # Opening balances: each series hits its payable months at 2024-12; the one without a
    # target closes the city's end-2023 balance on the reference figure.
    flow = np.cumsum(money["income"] - money["expenditure"], axis=1)
    last12 = money["expenditure"][:, in24].sum(axis=1)
    opening = np.zeros(n, dtype=np.int64)
    free = next(i for i, s in enumerate(p) if s.payable is None)
    for i, s in enumerate(p):
        if s.payable is not None:
            opening[i] = round(s.payable * last12[i] / 12) - flow[i, -1]
    end23 = int(np.flatnonzero(in23)[-1])
    others = (opening + flow[:, end23]).sum() - (opening[free] + flow[free, end23])
    opening[free] = round(REFERENCE_2023["balance"] * _YI) - others - flow[free, end23]
    money["balance"] = _balances(money["income"], money["expenditure"], opening)

    # Head-counts: resident per-capita income ~1,000 yuan (2023), enrolment shrinking 1.2 %
    # a year; employee insured growing 2.5 % a year.
    shape = spec.shape
    growth = np.where(shape == _RES, -0.012, 0.025)
    months_to_2023 = (2023 * 12 + 6 - first) / 12
    persons0 = arr("persons23") * 1000 * np.exp(-growth * months_to_2023)
    insured = _insured(shape, persons0, growth, arr("retired16"), first, count, rng)

    regions = _regions_frame(DEMO_REGIONS)
    counties = _county_parents(regions)
    ledger = _ledger_frame(counties, DEMO_FUNDS, first, count, money, insured)

    truth = _empty_truth()
    rows = [
        (
            code,
            fund,
            "drift" if s.drift_from else "none",
            s.drift_from,
            None,
            s.drift_exp if s.drift_from else 0.0,
        )
        for (code, fund), s in _DEMO_SERIES.items()
    ]
    truth = pd.DataFrame(rows, columns=list(TRUTH_COLUMNS)).astype(truth.dtypes.to_dict())
    return DemoWorld(regions=regions, ledger=ledger, truth=truth)


def _as_text(values: _Frame) -> _Frame:
    """Text columns with missing values kept missing, on pandas 2 and 3 alike (pandas 2's
    astype(str) turns None into the text 'None')."""
    return values.astype(object).where(values.notna(), None)


def _regions_frame(rows: Sequence[tuple[str, str, str | None, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=["region_code", "region_name", "parent_code", "level"])
    return _as_text(frame)


def _county_parents(regions: pd.DataFrame) -> pd.DataFrame:
    """County rows in `regions` order, with their parent's name."""
    names = dict(zip(regions["region_code"], regions["region_name"], strict=True))
    counties = regions[regions["level"] == "county"].reset_index(drop=True)
    return counties.assign(parent_name=counties["parent_code"].map(names))


# --------------------------------------------------------------------------- synthetic world


def synthetic_world(
    provinces: int,
    cities_per_province: int,
    counties_per_city: int,
    *,
    funds: Sequence[str] = ("employee", "resident", "maternity"),
    start: str = "2016-01",
    end: str = "2024-12",
    seed: int = 7,
) -> DemoWorld:
    """A country of `provinces` × `cities_per_province` × `counties_per_city` county ledgers.

    Same seasonal shapes as the demo city (funds other than the three known ones follow the
    employee shape). About 10 % of series drift (expenditure growth outpaces income from a
    start month), 5 % take a sudden step up in expenditure, 4 % get into trouble and recover
    (income steps up, e.g. a premium rise); `truth` says which and when. Balances are
    allowed to go negative: depletion is what early warning is for.
    """
    if not 1 <= provinces <= len(PROVINCE_CODES):
        raise ValueError(f"provinces must be 1..{len(PROVINCE_CODES)}")
    if not (1 <= cities_per_province <= 99 and 1 <= counties_per_city <= 99):
        raise ValueError("cities_per_province and counties_per_city must be 1..99")
    funds = tuple(funds)
    if not funds or len(set(funds)) != len(funds):
        raise ValueError("funds must be distinct and not empty")
    first = _month_index(start)
    count = _month_index(end) - first + 1
    if count < 1:
        raise ValueError(f"end {end} is before start {start}")
    rng = np.random.default_rng(seed)

    regions, counties = _synthetic_regions(provinces, cities_per_province, counties_per_city)
    n_counties, n_funds = len(counties), len(funds)
    n = n_counties * n_funds
    shape = np.tile([_SHAPE_OF_FUND.get(f, _OTHER) for f in funds], n_counties)

    # Sizes: a county population, then insured persons and spending per fund.
    population = np.repeat(np.exp(rng.normal(np.log(350_000), 0.6, n_counties)), n_funds)
    employee_persons = population * rng.uniform(0.08, 0.30, n)
    persons0 = np.select(
        [shape == _RES, shape == _MAT],
        [population * rng.uniform(0.65, 0.85, n), employee_persons * 0.72],
        employee_persons,
    )
    per_capita = np.select([shape == _RES, shape == _MAT], [560.0, 170.0], 3300.0)
    exp0 = persons0 * per_capita / 12 * rng.uniform(0.85, 1.15, n)
    exp0 = np.where(shape == _OTHER, exp0 * 0.05, exp0)  # other funds are small schemes
    g_exp = rng.uniform(0.05, 0.10, n)
    g_inc = g_exp + rng.normal(0.003, 0.005, n)
    payable0 = rng.uniform(8, 15, n)
    # Surplus share that keeps payable months about level: growth × months / 12.
    ratio0 = 1 + g_exp * payable0 / 12 * rng.uniform(0.8, 1.5, n)

    # Trouble: kinds, months, sizes.
    never = np.full(n, count + 1200)
    u = rng.random(n)
    kind = np.select([u < 0.10, u < 0.15, u < 0.19], ["drift", "shock", "recovery"], "none")
    lo, hi = min(24, count - 1), max(min(24, count - 1), count - 24)
    drift_start = rng.integers(lo, hi + 1, n)
    shock_start = rng.integers(lo, max(lo, count - 6) + 1, n)
    rec_start = rng.integers(min(12, count - 1), max(min(12, count - 1), count - 48) + 1, n)
    rec_len = rng.integers(12, 31, n)
    rec_is_shock = rng.random(n) < 0.5
    drift_size = rng.uniform(0.04, 0.12, n)
    shock_size = rng.uniform(0.15, 0.35, n)

    is_drift = (kind == "drift") | ((kind == "recovery") & ~rec_is_shock)
    is_shock = (kind == "shock") | ((kind == "recovery") & rec_is_shock)
    trouble = np.where(kind == "recovery", rec_start, np.where(is_drift, drift_start, shock_start))
    t_drift = np.where(is_drift, trouble, never)
    t_shock = np.where(is_shock, trouble, never)
    # A recovering series stops drifting and its income steps up (e.g. a premium rise) at
    # t_end, by the ratio it lost and a little more.
    t_end = np.where(kind == "recovery", np.minimum(rec_start + rec_len, count - 1), never)
    drift_exp = np.where(is_drift, drift_size, 0.0)
    shock = np.where(is_shock, shock_size, 0.0)
    lost = np.where(is_drift, drift_size * rec_len / 12, shock_size)
    recovery = np.where(kind == "recovery", lost + rng.uniform(0.02, 0.06, n), 0.0)

    sub_months = _subsidy_months(rng, n, count)
    spec = _Spec(
        shape=shape,
        exp0=exp0,
        ratio0=ratio0,
        g_exp=g_exp,
        g_inc=g_inc,
        t_drift=t_drift,
        t_end=t_end,
        drift_exp=drift_exp,
        drift_inc=np.zeros(n),
        t_shock=t_shock,
        shock=shock,
        recovery=recovery,
        jan_feb=rng.uniform(0.10, 0.30, n),
        sub_months=sub_months,
        noise=rng.uniform(0.7, 1.5, n),
    )
    parts = _simulate(spec, first, count, rng)
    money = _to_fen(parts, np.ones(n), np.ones(n))
    first12 = money["expenditure"][:, : min(12, count)].mean(axis=1)
    opening = np.rint(payable0 * first12).astype(np.int64)
    money["balance"] = _balances(money["income"], money["expenditure"], opening)

    growth = np.where(shape == _RES, rng.uniform(-0.02, 0.0, n), rng.uniform(0.0, 0.04, n))
    retired0 = rng.uniform(0.18, 0.34, n)
    insured = _insured(shape, persons0, growth, retired0, first, count, rng)
    ledger = _ledger_frame(counties, funds, first, count, money, insured)

    months = _month_texts(first, count)
    has_trouble = kind != "none"
    truth = pd.DataFrame(
        {
            "region_code": np.repeat(counties["region_code"].to_numpy(dtype=object), n_funds),
            "fund": np.tile(np.array(funds, dtype=object), n_counties),
            "kind": kind.astype(object),
            "start_month": np.where(has_trouble, months[np.clip(trouble, 0, count - 1)], None),
            "end_month": np.where(kind == "recovery", months[np.clip(t_end, 0, count - 1)], None),
            "magnitude": np.select([is_drift, is_shock], [drift_exp, shock], 0.0),
        }
    )
    for name in TRUTH_COLUMNS[:-1]:
        truth[name] = _as_text(truth[name])
    return DemoWorld(regions=regions, ledger=ledger, truth=truth)


def _synthetic_regions(
    provinces: int, cities_per_province: int, counties_per_city: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows: list[tuple[str, str, str | None, str]] = []
    county_rows: list[tuple[str, str, str, str]] = []
    for pp in PROVINCE_CODES[:provinces]:
        province = f"{pp}0000"
        rows.append((province, f"合成省{pp}", None, "province"))
        for c in range(1, cities_per_province + 1):
            city = f"{pp}{c:02d}00"
            city_name = f"合成市{pp}{c:02d}"
            rows.append((city, city_name, province, "city"))
            for k in range(1, counties_per_city + 1):
                code = f"{pp}{c:02d}{k:02d}"
                rows.append((code, f"合成县{code}", city, "county"))
                county_rows.append((code, f"合成县{code}", city, city_name))
    regions = _regions_frame(rows)
    counties = pd.DataFrame(
        county_rows, columns=["region_code", "region_name", "parent_code", "parent_name"]
    )
    return regions, _as_text(counties)


# --------------------------------------------------------------------------- stress province

# Where the stress province's codes start (a GB/T 2260 provincial prefix unused by the demo).
STRESS_PROVINCE = ("360000", "压力测试省")
# The resident benefit reform (a higher inpatient reimbursement rate): each city adopts it in
# one of these months, and its resident expenditure steps up by 8–14 % from then on.
_STRESS_REFORM_MONTHS = ("2020-07", "2021-01", "2021-07")
_STRESS_LATE_SHARE = 0.3  # of resident series-years from the third year on: subsidies late
_STRESS_DRIFT_SHARE = 0.35  # of series: expenditure growth outpaces income from a month
_STRESS_DECLINE_SHARE = 0.5  # of counties: resident enrolment declines


def stress_province(
    cities: int = 4,
    counties_per_city: int = 5,
    *,
    start: str = "2016-01",
    end: str = "2024-12",
    seed: int = 16,
) -> DemoWorld:
    """A province built to test early warning: `cities` × `counties_per_city` counties, each
    with `employee` and `resident`, and the troubles that make a fund's future hard to read.

    - drift: about a third of series see expenditure outgrow income by 4–12 % a year from a
      month in 2017–2023; a quarter of those recover (income steps up, a premium rise).
    - benefit reform: each city raises resident reimbursement in one month (2020-07, 2021-01
      or 2021-07): a level shift of 8–14 % in resident expenditure; employees take the 2023
      outpatient reform as in the demo city.
    - late subsidies: in about 30 % of resident years from the third on, the fiscal subsidy
      lumps after the first arrive two to four months into the next year.
    - enrolment decline: half the counties lose 2–6 % of resident enrolment a year, and
      their resident income grows that much slower (spending falls by half of it).
    - seasonal resident funds: collection periods, subsidy lumps, interest in December.

    `truth` has one row per trouble (a series may have several): kind 'drift' | 'recovery' |
    'reform' | 'late_subsidy' | 'enrolment_decline', its start month, for 'recovery' and
    'late_subsidy' the month it ends (the money arrives), and its size (drift: extra annual
    growth; reform: log step; late_subsidy: yuan moved; enrolment_decline: annual log
    change). Deterministic by `seed`; balances may go negative.
    """
    if not (1 <= cities <= 99 and 1 <= counties_per_city <= 99):
        raise ValueError("cities and counties_per_city must be 1..99")
    first = _month_index(start)
    count = _month_index(end) - first + 1
    if count < 36:
        raise ValueError("the stress province needs at least three years")
    rng = np.random.default_rng(seed)
    funds = DEMO_FUNDS
    regions, counties = _stress_regions(cities, counties_per_city)
    n_counties = len(counties)
    n = n_counties * len(funds)
    shape = np.tile([_SHAPE_OF_FUND[f] for f in funds], n_counties)
    resident = shape == _RES
    city_of = np.repeat(np.arange(n_counties) // counties_per_city, len(funds))

    population = np.repeat(np.exp(rng.normal(np.log(300_000), 0.5, n_counties)), len(funds))
    persons0 = np.where(
        resident, population * rng.uniform(0.65, 0.85, n), population * rng.uniform(0.08, 0.3, n)
    )
    exp0 = persons0 * np.where(resident, 560.0, 3300.0) / 12 * rng.uniform(0.85, 1.15, n)
    g_exp = rng.uniform(0.05, 0.10, n)
    g_inc = g_exp + rng.normal(0.003, 0.005, n)
    payable0 = rng.uniform(5, 14, n)
    ratio0 = 1 + g_exp * payable0 / 12 * rng.uniform(0.8, 1.3, n)

    # enrolment decline (per county, resident only): income follows the head-count
    declining = np.repeat(rng.random(n_counties) < _STRESS_DECLINE_SHARE, len(funds)) & resident
    decline = np.where(declining, -rng.uniform(0.02, 0.06, n), 0.0)
    g_inc = g_inc + decline
    g_exp = g_exp + decline / 2

    # drift, and recovery for a quarter of the drifting series
    never = np.full(n, count + 1200)
    drifting = rng.random(n) < _STRESS_DRIFT_SHARE
    t_drift = np.where(drifting, rng.integers(12, count - 12, n), never)
    drift_exp = np.where(drifting, rng.uniform(0.04, 0.12, n), 0.0)
    recovers = drifting & (rng.random(n) < 0.25)
    t_end = np.where(recovers, np.minimum(t_drift + rng.integers(18, 37, n), count - 1), never)
    recovery = np.where(recovers, drift_exp * (t_end - t_drift) / 12 + 0.03, 0.0)

    # the resident benefit reform: a city's month, a county's size
    reform_at = np.array([_month_index(m) - first for m in _STRESS_REFORM_MONTHS])
    city_reform = rng.integers(0, len(reform_at), cities)
    t_reform = np.where(resident, reform_at[city_reform[city_of]], never)
    reform = np.where(resident, rng.uniform(0.08, 0.14, n), 0.0)

    sub_months = _subsidy_months(rng, n, count)
    spec = _Spec(
        shape=shape,
        exp0=exp0,
        ratio0=ratio0,
        g_exp=g_exp,
        g_inc=g_inc,
        t_drift=t_drift,
        t_end=t_end,
        drift_exp=drift_exp,
        drift_inc=np.zeros(n),
        t_shock=t_reform,
        shock=reform,
        recovery=recovery,
        jan_feb=rng.uniform(0.10, 0.30, n),
        sub_months=sub_months,
        noise=rng.uniform(0.7, 1.5, n),
    )
    parts = _simulate(spec, first, count, rng)
    late = _delay_subsidies(parts["income_subsidy"], resident, first, rng)
    money = _to_fen(parts, np.ones(n), np.ones(n))
    first12 = money["expenditure"][:, :12].mean(axis=1)
    opening = np.rint(payable0 * first12).astype(np.int64)
    money["balance"] = _balances(money["income"], money["expenditure"], opening)

    growth = np.where(resident, decline, rng.uniform(0.0, 0.04, n))
    insured = _insured(shape, persons0, growth, rng.uniform(0.18, 0.34, n), first, count, rng)
    ledger = _ledger_frame(counties, funds, first, count, money, insured)

    months = _month_texts(first, count)
    codes = np.repeat(counties["region_code"].to_numpy(dtype=object), len(funds))
    fund_of = np.tile(np.array(funds, dtype=object), n_counties)
    rows: list[tuple[str, str, str, str | None, str | None, float]] = []
    for s in range(n):
        code, fund = str(codes[s]), str(fund_of[s])
        if drifting[s]:
            ends = months[t_end[s]] if recovers[s] else None
            kind = "recovery" if recovers[s] else "drift"
            rows.append((code, fund, kind, months[t_drift[s]], ends, float(drift_exp[s])))
        if resident[s]:
            rows.append((code, fund, "reform", months[t_reform[s]], None, float(reform[s])))
        if declining[s]:
            rows.append((code, fund, "enrolment_decline", months[0], None, float(decline[s])))
    for s, due, paid, amount in late:
        rows.append(
            (str(codes[s]), str(fund_of[s]), "late_subsidy", months[due], months[paid], amount)
        )
    truth = pd.DataFrame(rows, columns=list(TRUTH_COLUMNS))
    truth = truth.astype(_empty_truth().dtypes.to_dict())
    for name in TRUTH_COLUMNS[:-1]:
        truth[name] = _as_text(truth[name])
    return DemoWorld(regions=regions, ledger=ledger, truth=truth)


def _delay_subsidies(
    subsidy: np.ndarray, resident: np.ndarray, first: int, rng: np.random.Generator
) -> list[tuple[int, int, int, float]]:
    """Move the subsidy lumps of some resident years after their first into one month two to
    four months into the next year (in place). Returns (series, first late month, month paid,
    yuan moved) per late year; a year whose money would arrive after the data ends is left."""
    n, count = subsidy.shape
    scheduled = subsidy.copy()  # each year's own lumps: a late payment is not moved again
    out: list[tuple[int, int, int, float]] = []
    year_starts = [t for t in range(count) if (first + t) % 12 == 0 and t >= 24]
    late = rng.random((n, len(year_starts))) < _STRESS_LATE_SHARE
    delay = rng.integers(1, 4, (n, len(year_starts)))  # February..April of the next year
    for s in np.flatnonzero(resident):
        for j, y0 in enumerate(year_starts):
            paid = y0 + 12 + int(delay[s, j])
            if not late[s, j] or paid >= count:
                continue
            lumps = np.flatnonzero(scheduled[s, y0 : y0 + 12] > 0) + y0
            moved = lumps[1:]  # the first lump of the year arrives on time
            if moved.size == 0:
                continue
            amount = float(scheduled[s, moved].sum())
            subsidy[s, moved] -= scheduled[s, moved]
            subsidy[s, paid] += amount
            out.append((int(s), int(moved[0]), paid, amount))
    return out


def _stress_regions(cities: int, counties_per_city: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    province, province_name = STRESS_PROVINCE
    rows: list[tuple[str, str, str | None, str]] = [(province, province_name, None, "province")]
    county_rows: list[tuple[str, str, str, str]] = []
    for c in range(1, cities + 1):
        city = f"{province[:2]}{c:02d}00"
        city_name = f"压力市{c:02d}"
        rows.append((city, city_name, province, "city"))
        for k in range(1, counties_per_city + 1):
            code = f"{province[:2]}{c:02d}{k:02d}"
            rows.append((code, f"压力县{c:02d}{k:02d}", city, "county"))
            county_rows.append((code, f"压力县{c:02d}{k:02d}", city, city_name))
    counties = pd.DataFrame(
        county_rows, columns=["region_code", "region_name", "parent_code", "parent_name"]
    )
    return _regions_frame(rows), _as_text(counties)
