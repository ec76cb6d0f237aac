"""The published data sets the engine tests share, each typed out once with its source.

As metafor ships ``dat.bcg`` and its siblings, this module holds each published data set the
engine tests use, once, as read-only columns. Each :class:`Dataset` names the publication
it comes from (``source``: author, year, journal, table), the section of
``tests/reference/REFERENCE-VALUES.md`` that lists the values computed from it (``reference``) and
the metafor fixtures whose ``input`` holds the same data as R exported them (``fixtures``, under
``tests/reference/fixtures/``). ``tests/test_datasets.py`` checks every typed-out column against
both, so a mistyped number fails there rather than as a puzzling reference mismatch elsewhere.

The magnesium and passive-smoking data are not typed out: their helpers read the fixture's
``input``, which ``tests/reference/generate_fixtures.R`` exported from metafor's data sets.

The tolerances that reference tests in several modules share are defined here, each with the
reason for its value; tolerances of one module are defined in that module.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType

import numpy as np

REFERENCE_VALUES = Path(__file__).parent / "reference" / "REFERENCE-VALUES.md"
FIXTURES = Path(__file__).parent / "reference" / "fixtures"

# --- tolerances of published values ---------------------------------------------------------

#: Decimals of every value in tests/reference/REFERENCE-VALUES.md (metafor's test-suite prints 4).
PRINTED_DECIMALS = 4
#: Half a unit of the 4th decimal: within it, the value rounds to the printed one.
PRINTED_4DP = 5e-5
#: The relative tolerance tests/reference/REFERENCE-VALUES.md advises for its 4-decimal values:
#: some were computed by metafor from unrounded data or at its default convergence threshold.
PUBLISHED_REL = 1e-4
#: Floating-point slack added to half a unit of the last printed decimal, so that a value lying
#: exactly half a unit from the printed one, up to rounding error, still counts as rounding to it.
ROUNDING_SLACK = 1e-12


def rounds_to(actual: float, printed: float, decimals: int = PRINTED_DECIMALS) -> bool:
    """Whether ``printed`` is ``actual`` rounded to ``decimals`` (half a unit, plus slack)."""
    return abs(actual - printed) <= 0.5 * 10 ** -decimals + ROUNDING_SLACK


def close_to_published(actual: float, published: float) -> bool:
    """Within :data:`PUBLISHED_REL` of a 4-decimal published value, never stricter than
    :data:`PRINTED_4DP` (which also covers published values of 0)."""
    return abs(actual - published) <= max(PRINTED_4DP, PUBLISHED_REL * abs(published))


# --- the data sets --------------------------------------------------------------------------


def _frozen(values) -> np.ndarray | tuple:
    """A read-only array of numbers, or a tuple of strings: shared data no test can alter."""
    if all(isinstance(v, str) for v in values):
        return tuple(values)
    array = np.array(values)
    array.setflags(write=False)
    return array


class Dataset:
    """One published data set: its study labels, its columns, and where they come from.

    Columns are attributes (``BCG.tpos``): read-only numpy arrays, or tuples for text columns.
    """

    def __init__(self, name: str, *, source: str, reference: str, fixtures: Sequence[str],
                 labels: Sequence[str], **columns):
        self.name = name
        self.source = source
        self.reference = reference
        self.fixtures = tuple(fixtures)
        self.labels = tuple(labels)
        self.columns = MappingProxyType({key: _frozen(values) for key, values in columns.items()})
        for key, values in self.columns.items():
            if len(values) != len(self.labels):
                raise ValueError(f"{name}: column {key} has {len(values)} values for "
                                 f"{len(self.labels)} studies")

    def __getattr__(self, column: str):
        try:
            return self.__dict__["columns"][column]
        except KeyError:
            raise AttributeError(f"data set {self.__dict__.get('name')!r} has no column {column!r}") \
                from None

    @property
    def k(self) -> int:
        """The number of studies."""
        return len(self.labels)

    def __repr__(self) -> str:
        return f"<{self.name}: k = {self.k}, {', '.join(self.columns)}; {self.source}>"


BCG = Dataset(
    "BCG vaccine trials",
    source="Colditz GA, Brewer TF, Berkey CS, et al. (1994). Efficacy of BCG vaccine in the "
           "prevention of tuberculosis: meta-analysis of the published literature. JAMA "
           "271(9):698-702, Table 1; the columns of metafor's dat.bcg",
    reference="tests/reference/REFERENCE-VALUES.md R1",
    fixtures=["bcg_rr"],
    labels=[str(trial) for trial in range(1, 14)],
    year=[1948, 1949, 1960, 1977, 1973, 1953, 1973, 1980, 1968, 1961, 1974, 1969, 1976],
    tpos=[4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27],
    tneg=[119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886],
    cpos=[11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29],
    cneg=[128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825],
    ablat=[44, 55, 42, 52, 13, 44, 19, 13, 27, 42, 18, 33, 33],
    alloc=["random", "random", "random", "random", "alternate", "alternate", "random", "random",
           "random", "systematic", "systematic", "systematic", "systematic"],
)

NORMAND1999 = Dataset(
    "Stroke length of stay",
    source="Normand S-LT (1999). Meta-analysis: formulating, evaluating, combining, and reporting. "
           "Stat Med 18:321-359, Table I (length of hospital stay in days; arm 1 = specialist "
           "care; mean differences pooled in Table IX, p. 352); metafor's dat.normand1999",
    reference="tests/reference/REFERENCE-VALUES.md R2",
    fixtures=["normand1999_smd", "normand1999_md", "normand1999_md_ho"],
    labels=["Edinburgh", "Orpington-Mild", "Orpington-Moderate", "Orpington-Severe",
            "Montreal-Home", "Montreal-Transfer", "Newcastle", "Umea", "Uppsala"],
    n1=[155, 31, 75, 18, 8, 57, 34, 110, 60],
    mean1=[55, 27, 64, 66, 14, 19, 52, 21, 30],
    sd1=[47, 7, 17, 20, 8, 7, 45, 16, 27],
    n2=[156, 32, 71, 18, 13, 52, 33, 183, 52],
    mean2=[75, 29, 119, 137, 18, 18, 41, 31, 23],
    sd2=[64, 4, 29, 48, 11, 4, 34, 27, 20],
)

RAUDENBUSH1985 = Dataset(
    "Teacher expectancy",
    source="Raudenbush SW, Bryk AS (1985). Empirical Bayes meta-analysis. J Educ Stat 10(2):75-98 "
           "(the 19 experiments of Raudenbush 1984, J Educ Psychol 76:85-97); standardized mean "
           "differences and their variances to 4 decimals as in metafor's dat.raudenbush1985",
    reference="tests/reference/REFERENCE-VALUES.md R3",
    fixtures=["raudenbush1985"],
    labels=[str(study) for study in range(1, 20)],
    yi=[0.03, 0.12, -0.14, 1.18, 0.26, -0.06, -0.02, -0.32, 0.27, 0.80, 0.54, 0.18, -0.02, 0.23,
        -0.18, -0.06, 0.30, 0.07, -0.07],
    # the squares of the published SEs 0.125, 0.147, 0.167, 0.373, 0.369, 0.103, 0.103, 0.220,
    # 0.164, 0.251, 0.302, 0.223, 0.289, 0.290, 0.159, 0.167, 0.139, 0.094, 0.174, rounded to 4
    # decimals: squaring the 3-decimal SEs instead moves results in the 4th decimal
    vi=[0.0156, 0.0216, 0.0279, 0.1391, 0.1362, 0.0106, 0.0106, 0.0484, 0.0269, 0.0630, 0.0912,
        0.0497, 0.0835, 0.0841, 0.0253, 0.0279, 0.0193, 0.0088, 0.0303],
)

CLASP = Dataset(
    "CLASP trials",
    source="DerSimonian R, Kacker R (2007). Random-effects model for meta-analysis of clinical "
           "trials: an update. Contemp Clin Trials 28:105-114 (data of the CLASP example; "
           "estimates in Tables 3 and 4, pp. 111-112)",
    reference="tests/reference/REFERENCE-VALUES.md R4",
    fixtures=["clasp_or"],
    labels=[str(trial) for trial in range(1, 7)],
    events1=[5, 5, 12, 69, 9, 313],
    total1=[156, 303, 565, 1570, 103, 4659],
    events2=[8, 17, 9, 94, 11, 352],
    total2=[74, 303, 477, 1565, 105, 4650],
)

NORMAND1999_TABLE3 = Dataset(
    "Lidocaine trials, risk differences (tau2 = 0 boundary)",
    source="Normand S-LT (1999). Stat Med 18:321-359, Table III (p. 330): risk differences in "
           "percentage points and their variances for the lidocaine trials of Hine et al. (1989), "
           "metafor's dat.hine1989; pooled in Table VII (p. 349)",
    reference="tests/reference/REFERENCE-VALUES.md R5",
    fixtures=["normand1999_table3"],
    labels=[str(study) for study in range(1, 7)],
    yi=[2.8026, 0.0000, 1.9711, 1.7961, 3.5334, 4.4031],
    vi=[17.7575, 37.5657, 8.1323, 10.8998, 8.0114, 6.1320],
)

#: Every typed-out data set (tests/test_datasets.py checks each against its sources).
TYPED_OUT = (BCG, NORMAND1999, RAUDENBUSH1985, CLASP, NORMAND1999_TABLE3)

#: Data sets read from a metafor fixture's ``input`` (name of the fixture: source, reference).
FROM_FIXTURES = MappingProxyType({
    "egger2001_magnesium": (
        "Egger M, Davey Smith G, Altman DG (eds.) (2001). Systematic Reviews in Health Care: "
        "Meta-analysis in Context, 2nd ed. BMJ Books, Table 18.2 (16 trials of intravenous "
        "magnesium after myocardial infarction); metafor's dat.egger2001",
        "tests/reference/REFERENCE-VALUES.md R6"),
    "hackshaw1998": (
        "Hackshaw AK, Law MR, Wald NJ (1997). The accumulated evidence on lung cancer and "
        "environmental tobacco smoke. BMJ 315:980-988; Hackshaw AK (1998), Stat Methods Med Res "
        "7:119-136 (37 studies, log odds ratios as metafor's dat.hackshaw1998 ships them)",
        "tests/reference/REFERENCE-VALUES.md R6"),
})


# --- derived views (computed by hand, independently of analysis.stats.effects) -----------------


def bcg_arms() -> dict[str, np.ndarray]:
    """The BCG 2x2 tables as the engine's arm columns (arm 1 = vaccinated)."""
    return {"events1": BCG.tpos, "total1": BCG.tpos + BCG.tneg,
            "events2": BCG.cpos, "total2": BCG.cpos + BCG.cneg}


def bcg_log_rr() -> tuple[np.ndarray, np.ndarray]:
    """Log risk ratios of the BCG trials and their large-sample variances.

    yi = log(a/n1) - log(c/n2), vi = 1/a - 1/n1 + 1/c - 1/n2 (Katz et al. 1978; no table has a
    zero cell, so no correction is added).
    """
    tpos, cpos = BCG.tpos.astype(float), BCG.cpos.astype(float)
    n1, n2 = tpos + BCG.tneg, cpos + BCG.cneg
    yi = np.log(tpos / n1) - np.log(cpos / n2)
    vi = 1 / tpos - 1 / n1 + 1 / cpos - 1 / n2
    return yi, vi


def normand1999_arms() -> dict[str, np.ndarray]:
    """The stroke studies as the engine's continuous arm columns (arm 1 = specialist care)."""
    return {key: NORMAND1999.columns[key] for key in ("n1", "mean1", "sd1", "n2", "mean2", "sd2")}


def clasp_arms() -> dict[str, np.ndarray]:
    """The CLASP trials as the engine's binary arm columns."""
    return {key: CLASP.columns[key] for key in ("events1", "total1", "events2", "total2")}


def clasp_log_or() -> tuple[np.ndarray, np.ndarray]:
    """Log odds ratios of the CLASP trials, log(ad / bc), and Woolf's variance 1/a + 1/b + 1/c + 1/d
    (Woolf 1955; no zero cells)."""
    a, c = CLASP.events1.astype(float), CLASP.events2.astype(float)
    b, d = CLASP.total1 - a, CLASP.total2 - c
    return np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d


def fixture_input(name: str) -> dict:
    """The ``input`` of metafor fixture ``name``: the data set as R exported it."""
    return json.loads((FIXTURES / f"{name}.json").read_text())["input"]


def magnesium_log_or() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Log odds ratios of the 16 magnesium trials, their variances and the trial names.

    1/2 is added to every cell of a table with a zero cell and to no other table (metafor escalc
    defaults ``add = 1/2, to = "only0"``); yi = log(ad / bc), vi = 1/a + 1/b + 1/c + 1/d.
    """
    data = fixture_input("egger2001_magnesium")
    a, n1, c, n2 = (np.array(data[key], float) for key in ("events1", "total1", "events2", "total2"))
    b, d = n1 - a, n2 - c
    add = np.where((a == 0) | (b == 0) | (c == 0) | (d == 0), 0.5, 0.0)
    a, b, c, d = a + add, b + add, c + add, d + add
    return np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d, data["study"]


def hackshaw_log_or() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Log odds ratios of the 37 passive-smoking studies, their variances and study numbers."""
    data = fixture_input("hackshaw1998")
    return np.array(data["yi"], float), np.array(data["vi"], float), data["study"]


def csv_text(columns: dict[str, Sequence], decimals: int | None = None) -> str:
    """CSV text of ``columns`` (header row first, one row per study, ``\\n`` line ends).

    Integers are written as integers; other numbers with ``decimals`` decimals, which must be
    given (so a value is written as printed in its source, e.g. 0.0000 and 6.1320).
    """
    def cell(value) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, np.integer)):
            return str(int(value))
        if decimals is None:
            raise ValueError(f"{value!r} is not an integer: say how many decimals to write")
        return f"{value:.{decimals}f}"

    rows = [",".join(columns)]
    rows += [",".join(cell(value) for value in row) for row in zip(*columns.values())]
    return "\n".join(rows) + "\n"
