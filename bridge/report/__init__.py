"""Reports: JSON (the contract), the terminal table."""

from bridge.report.json_report import write_json
from bridge.report.table import parity_table, print_bench, print_parity

__all__ = ["write_json", "parity_table", "print_parity", "print_bench"]
