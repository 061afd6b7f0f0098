"""The fingerprint of a fund's figures: a SHA-256 that changes when any month's income,
expenditure or closing balance up to the month evaluated changes (a re-issued month, a
correction), and only then.

The evaluation stores it with every row (`evaluations.data_hash`); a later run re-evaluates a
stored month whose fingerprint no longer matches, and the bulletin marks such an evaluation
stale. Both compute it here, from the same arrays, so they cannot disagree.

The bytes hashed are a CSV: the header `month,income,expenditure,balance`, then one line per
month, oldest first, amounts in yuan written as Python writes a float (`repr`: `1234.5`,
`0.0`, `1e+16`). That is the text the first version hashed through pandas' `to_csv`, kept
byte for byte so the fingerprints already in stores stay valid: changing it would make every
stored evaluation look stale once (each fund re-evaluated on the next `--changed-only` run,
each bulletin's funds marked stale until then).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

HEADER = "month,income,expenditure,balance\n"

Amounts = npt.ArrayLike  # fen (integers), one per month


def figure_lines(
    months: npt.ArrayLike, income: Amounts, expenditure: Amounts, balance: Amounts
) -> list[str]:
    """Each month's line of the hashed text (without its newline); amounts given in fen.

    Vectorised, so the lines of many funds are formatted in one call and sliced per fund."""
    yuan = [
        (np.asarray(a, dtype=np.float64) / 100).astype(str).tolist()
        for a in (income, expenditure, balance)
    ]
    month_texts = [str(m) for m in np.asarray(months, dtype=object).tolist()]
    return [f"{m},{i},{e},{b}" for m, i, e, b in zip(month_texts, *yuan, strict=True)]


def fingerprint_of_lines(lines: Sequence[str]) -> str:
    """The fingerprint of one fund's rows already formatted by `figure_lines`."""
    text = HEADER + "".join(line + "\n" for line in lines)
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(
    months: npt.ArrayLike, income: Amounts, expenditure: Amounts, balance: Amounts
) -> str:
    """The fingerprint of one fund's rows, oldest first, amounts in fen."""
    return fingerprint_of_lines(figure_lines(months, income, expenditure, balance))
