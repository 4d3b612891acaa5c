"""CSV imports of the org chart, monthly metrics and plan history: check everything, then
write all or nothing.

Files are read the way spreadsheets write them: UTF-8 with or without BOM, CRLF, quoted cells
(newlines inside them too), padded cells and headers, headers in any case, `"1,200"`, empty
cells as missing. Every problem is collected with its physical line and column, and nothing is
written unless there is none. Every import is idempotent: the same file twice leaves the
database as it was, and the second run reports every row unchanged.
"""

from storage.csv_common import MAX_LISTED, CsvImportError, ImportResult, Problem, Progress
from storage.csv_metrics import METRICS_REQUIRED, import_metrics
from storage.csv_org import ORG_COLUMNS, ORG_REQUIRED, import_org
from storage.csv_plans import PLANS_COLUMNS, PLANS_REQUIRED, PlanImportResult, import_plans

__all__ = [
    "MAX_LISTED",
    "METRICS_REQUIRED",
    "ORG_COLUMNS",
    "ORG_REQUIRED",
    "PLANS_COLUMNS",
    "PLANS_REQUIRED",
    "CsvImportError",
    "ImportResult",
    "PlanImportResult",
    "Problem",
    "Progress",
    "import_metrics",
    "import_org",
    "import_plans",
]
