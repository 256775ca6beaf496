"""The figures a bench run must produce, their targets, and the verdict on a run.

``run.py`` builds its tables from these rows and ends with :func:`verdict`: a figure the run
should have produced and did not is a failure, as a missed target is (the run exits
non-zero and names it). Nothing here imports Django or touches a database, so
``tests/project/test_bench_run.py`` checks the verdict on plain dictionaries.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

TARGETS: dict[str, tuple[str, float]] = {
    "ingest_per_s": (">=", 5000),
    "timeline_p99_ms": ("<=", 25),
    "sweep_s": ("<", 1),  # one sweep of 1M loops with 10,000 due (issue 19)
    "anomaly_buckets_per_s": (">=", 100_000),
    # NAB on realTweets series the detector was not tuned on (leave one series out; issue 18)
    "nab_loso_standard": (">", 72),
    "nab_loso_low_fp": (">", 60),
    "sentiment_texts_per_s": (">=", 1000),
    "sentiment_one_text_p99_ms": ("<=", 5),
    "segment_events_per_s": (">=", 10_000),
    "inbox_p99_ms": ("<=", 150),
    "case_page_p99_ms": ("<=", 150),
    "search_p99_ms": ("<=", 50),
    "funnel_10m_s": ("<=", 1),
    "funnel_ratio": ("<=", 1.5),
    "jobs_duplicates": ("<=", 0),  # a replayed offline queue stores nothing twice
    "dashboard_p99_ms": ("<=", 300),  # the CCO dashboard over 1M loops, 10M interactions
    "dashboard_lead_p99_ms": ("<=", 300),
}

ENGINES = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Row:
    """One line of a RESULTS.md table: what it shows, its key in results.json, how to print it."""

    label: str
    key: str
    unit: str  # "/s", "ms", "s", "x" (times the floor), "ratio", "num"
    target: str = ""


# Figures measured on each engine, by the workload that measures them; the PostgreSQL
# figure of a key is ``<key>_pg``.
ENGINE_ROWS: dict[str, list[Row]] = {
    "ingest": [
        Row("Ingest, batch API over HTTP", "ingest_per_s", "/s", "≥ 5,000/s"),
        Row("Ingest, per-batch latency p50", "ingest_batch_p50_ms", "ms"),
        Row("Ingest, per-batch latency p99", "ingest_batch_p99_ms", "ms"),
        Row("Ingest floor (raw bulk insert, bare table)", "ingest_floor_per_s", "/s"),
        Row("Ingest / floor", "ingest_ratio", "ratio", "(reported)"),
        Row(
            "Sentiment of the ingested messages, scored after by one worker process",
            "ingest_sentiment_per_s",
            "/s",
        ),
    ],
    "ingest_cases": [
        Row("Ingest on cases (reply loops open and close)", "ingest_cases_per_s", "/s"),
        Row("Ingest on cases, per-batch latency p50", "ingest_cases_batch_p50_ms", "ms"),
        Row("Ingest on cases, per-batch latency p99", "ingest_cases_batch_p99_ms", "ms"),
        Row("Ingest on cases floor (raw bulk insert)", "ingest_cases_floor_per_s", "/s"),
        Row("Ingest on cases / floor", "ingest_cases_ratio", "ratio", "(reported)"),
    ],
    "timeline": [
        Row("Timeline p50", "timeline_p50_ms", "ms"),
        Row("Timeline p99", "timeline_p99_ms", "ms", "≤ 25 ms"),
    ],
    "console": [
        Row(
            "Console floor: `GET /healthz`, same server and session, p50",
            "console_healthz_p50_ms",
            "ms",
        ),
        Row("Console floor: `GET /healthz` p99", "console_healthz_p99_ms", "ms"),
        Row("Inbox as a team's agent, p50", "inbox_p50_ms", "ms"),
        Row("Inbox as a team's agent, p99", "inbox_p99_ms", "ms", "≤ 150 ms"),
        Row("Inbox floor (its bare SQL: first page + count)", "inbox_sql_ms", "ms"),
        Row("Inbox p50 / healthz p50", "inbox_ratio", "x", "(reported)"),
        Row("Inbox as an admin (every team's loops), p50", "inbox_admin_p50_ms", "ms"),
        Row("Inbox as an admin, p99", "inbox_admin_p99_ms", "ms", "(reported)"),
        Row("Case page, 500 messages, p50", "case_page_p50_ms", "ms"),
        Row("Case page, 500 messages, p99", "case_page_p99_ms", "ms", "≤ 150 ms"),
        Row("Case page floor (its bare SQL: the thread)", "case_page_sql_ms", "ms"),
        Row("Case page p50 / healthz p50", "case_page_ratio", "x", "(reported)"),
        Row("Case lists (`/cases/`: my teams, unsolved), p50", "cases_list_p50_ms", "ms"),
        Row("Case lists, p99", "cases_list_p99_ms", "ms", "(reported; 150 ms aimed at)"),
        Row("Case lists floor (bare SQL: first page + count)", "cases_list_sql_ms", "ms"),
        Row("Case lists p50 / healthz p50", "cases_list_ratio", "x", "(reported)"),
    ],
    "search": [
        Row("Search page, the whole query mix, p50", "search_p50_ms", "ms"),
        Row("Search page, the whole query mix, p99", "search_p99_ms", "ms", "≤ 50 ms"),
        Row("Search, a common word: p50", "search_common_p50_ms", "ms"),
        Row("Search, a common word: p99", "search_common_p99_ms", "ms"),
        Row("Search, rare words: p50", "search_rare_p50_ms", "ms"),
        Row("Search, rare words: p99", "search_rare_p99_ms", "ms"),
        Row("Search, a customer's name: p50", "search_customer_p50_ms", "ms"),
        Row("Search, a customer's name: p99", "search_customer_p99_ms", "ms"),
        Row("Search, a case reference (redirect): p50", "search_case_ref_p50_ms", "ms"),
        Row("Search, a case reference (redirect): p99", "search_case_ref_p99_ms", "ms"),
        Row("Search floor (bare full-text query of the words), p50", "search_sql_ms", "ms"),
        Row("Search p50 / healthz p50", "search_ratio", "x", "(reported)"),
    ],
    "sweep": [
        Row("Sweep, business hours, 50 teams (one `loops_sweep`)", "sweep_s", "s", "< 1 s"),
        Row("Sweep floor (bare indexed SELECT of the due ids)", "sweep_floor_s", "s"),
        Row("Sweep / floor", "sweep_ratio", "x", "(reported)"),
    ],
    "sweep_247": [
        Row("Sweep, 24/7, one team (the earlier workload)", "sweep_247_s", "s", "(reported)"),
        Row("Sweep 24/7 floor", "sweep_247_floor_s", "s"),
        Row("Sweep 24/7 / floor", "sweep_247_ratio", "x", "(reported)"),
    ],
}

# Benches run as their own scripts (each prints one JSON object and writes its own page);
# these keys are copied into results.json. Keys ending ``_pg`` come only with PostgreSQL.
SIDE_PAGES = {
    "segment.py": "SEGMENT.md",
    "anomaly.py": "ANOMALY.md",
    "sentiment.py": "SENTIMENT.md",
    "mentions.py": "MENTIONS.md",
    "funnels.py": "FUNNELS.md",
    "jobs.py": "JOBS.md",
    "feedback.py": "FEEDBACK.md",
    "dashboard.py": "DASHBOARD.md",
}
SIDE_ROWS: dict[str, list[Row]] = {
    "segment.py": [
        Row(
            "Segment API, raw /v1/batch posts (SQLite)", "segment_events_per_s", "/s", "≥ 10,000/s"
        ),
        Row("Segment API, batch p99 (SQLite)", "segment_batch_p99_ms", "ms"),
        Row("Segment API, server CPU µs/event (SQLite)", "segment_server_cpu_us_per_event", "num"),
        Row("Segment API, real Python client (SQLite)", "segment_client_events_per_s", "/s"),
        Row("Segment floor (raw sqlite3 executemany)", "segment_floor_per_s", "/s"),
        Row("Segment raw posts / floor (SQLite)", "segment_ratio", "num", "(reported)"),
        Row("Segment API, raw /v1/batch posts (PostgreSQL)", "segment_events_per_s_pg", "/s"),
        Row("Segment API, batch p99 (PostgreSQL)", "segment_batch_p99_ms_pg", "ms"),
        Row("Segment API, server CPU µs/event (PG)", "segment_server_cpu_us_per_event_pg", "num"),
        Row("Segment API, real Python client (PG)", "segment_client_events_per_s_pg", "/s"),
        Row("Segment floor (PostgreSQL COPY)", "segment_floor_per_s_pg", "/s"),
        Row("Segment raw posts / floor (PostgreSQL)", "segment_ratio_pg", "num", "(reported)"),
    ],
    "anomaly.py": [
        Row("Spike detector throughput (one core)", "anomaly_buckets_per_s", "/s", "≥ 100,000/s"),
        Row(
            "Spike detector floor (bare rolling-mean loop, same buckets)",
            "anomaly_floor_buckets_per_s",
            "/s",
        ),
        Row("Spike detector time / floor", "anomaly_cost_x", "x", "(reported)"),
        Row("Spike detector state, JSON bytes", "anomaly_state_bytes", "num"),
        Row(
            "NAB standard, held out (leave one series out, 5 realTweets series)",
            "nab_loso_standard",
            "num",
            "> 72 (Numenta HTM 64.9)",
        ),
        Row("NAB low-FP, held out (leave one series out)", "nab_loso_low_fp", "num", "> 60"),
        Row("NAB low-FN, held out (leave one series out)", "nab_loso_low_fn", "num"),
        Row(
            "False alerts per labelled window, held out",
            "anomaly_false_per_window",
            "num",
            "(fewer is better)",
        ),
        Row("NAB standard, in-sample (default chosen on these 5 series)", "nab_standard", "num"),
        Row("NAB low-FP, in-sample", "nab_low_fp", "num"),
        Row("NAB low-FN, in-sample", "nab_low_fn", "num"),
        Row(
            "False alerts per labelled window, in-sample",
            "anomaly_false_per_window_in_sample",
            "num",
        ),
    ],
    "sentiment.py": [
        Row(
            "Sentiment (shipped: MiniLM, 3 layers, fine-tuned, int8 ONNX), macro-recall 5-fold "
            "cross-validated over train + val (mean, fp32)",
            "sentiment_cv_macro_recall",
            "num",
            "(bench/SENTIMENT.md)",
        ),
        Row(
            "Sentiment, cross-validated macro-recall, sd over folds",
            "sentiment_cv_macro_recall_sd",
            "num",
        ),
        Row(
            "Sentiment as served (int8 ONNX, static scales), held-out fold 1 macro-recall",
            "sentiment_cv_fold1_served_macro_recall",
            "num",
        ),
        Row(
            "Sentiment in fp32, the same held-out fold 1",
            "sentiment_cv_fold1_fp32_macro_recall",
            "num",
        ),
        Row(
            "Sentiment, support check set macro-recall (hand-labelled, never tuned on)",
            "sentiment_checkset_macro_recall",
            "num",
        ),
        Row(
            "Sentiment, val macro-recall (in-sample: fitted on train + val)",
            "sentiment_val_macro_recall",
            "num",
        ),
        Row("Sentiment, val accuracy (in-sample)", "sentiment_val_accuracy", "num"),
        Row("Sentiment, texts/s in batch (one core)", "sentiment_texts_per_s", "/s", "≥ 1,000/s"),
        Row("Sentiment, one text p99", "sentiment_one_text_p99_ms", "ms", "≤ 5 ms"),
        Row("Sentiment artefact (ONNX + tokenizer), MB", "sentiment_artefact_mb", "num"),
        Row(
            "Linear model (LASTMILE_SENTIMENT_MODEL=linear), cross-validated macro-recall "
            "(mean, same folds)",
            "linear_cv_macro_recall",
            "num",
        ),
        Row("Linear model, cross-validated sd", "linear_cv_macro_recall_sd", "num"),
        Row("Linear model, support check set macro-recall", "linear_checkset_macro_recall", "num"),
        Row("Linear model, val macro-recall (in-sample)", "linear_val_macro_recall", "num"),
        Row("Linear model, texts/s in batch (one core, same run)", "linear_texts_per_s", "/s"),
        Row("Linear model, one text p99 (same run)", "linear_one_text_p99_ms", "ms"),
        Row("Linear model artefact, MB", "linear_artefact_mb", "num"),
        Row(
            "Baseline (linear, before static vectors), cross-validated macro-recall (mean, same "
            "folds)",
            "baseline_cv_macro_recall",
            "num",
            "(baseline)",
        ),
        Row("Baseline, cross-validated sd", "baseline_cv_macro_recall_sd", "num"),
        Row("Baseline, support check set macro-recall", "baseline_checkset_macro_recall", "num"),
        Row("Baseline, texts/s in batch (one core, same run)", "baseline_texts_per_s", "/s"),
        Row("Baseline, one text p99 (same run)", "baseline_one_text_p99_ms", "ms"),
        Row("VADER, macro-recall on the same 5 folds (mean)", "vader_cv_macro_recall", "num"),
        Row("VADER, support check set macro-recall", "vader_checkset_macro_recall", "num"),
        Row("VADER, val macro-recall", "vader_val_macro_recall", "num", "(baseline)"),
        Row("VADER, val accuracy", "vader_val_accuracy", "num"),
        Row("VADER, texts/s", "vader_texts_per_s", "/s"),
    ],
    "mentions.py": [
        Row("Mention import, TWCS rows/s (SQLite)", "mentions_import_rows_per_s", "/s"),
        Row("Mention import, CPU s (SQLite)", "mentions_import_cpu_s", "num"),
        Row("Mention re-import, rows/s (SQLite)", "mentions_reimport_rows_per_s", "/s"),
        Row("Mention floor (raw sqlite3 executemany)", "mentions_floor_per_s", "/s"),
        Row("Mention import / floor (SQLite)", "mentions_ratio", "num", "(reported)"),
        Row(
            "Mention import, CPU s over its rate's span (SQLite)",
            "mentions_import_own_cpu_s",
            "num",
        ),
        Row(
            "Mention processing by the worker, rows/s (SQLite)", "mentions_process_rows_per_s", "/s"
        ),
        Row("Mention processing / floor (SQLite)", "mentions_process_ratio", "num", "(reported)"),
        Row(
            "Sentiment scored in processing, texts/s (SQLite)", "mentions_scored_texts_per_s", "/s"
        ),
        Row("Sentiment scored, texts per CPU s (SQLite)", "mentions_scored_texts_per_cpu_s", "/s"),
        Row("Mention import, TWCS rows/s (PostgreSQL)", "mentions_import_rows_per_s_pg", "/s"),
        Row("Mention import, CPU s (PostgreSQL)", "mentions_import_cpu_s_pg", "num"),
        Row("Mention re-import, rows/s (PG)", "mentions_reimport_rows_per_s_pg", "/s"),
        Row("Mention floor (PostgreSQL COPY)", "mentions_floor_per_s_pg", "/s"),
        Row("Mention import / floor (PostgreSQL)", "mentions_ratio_pg", "num", "(reported)"),
        Row(
            "Mention processing by the worker, rows/s (PG)", "mentions_process_rows_per_s_pg", "/s"
        ),
        Row("Mention processing / floor (PostgreSQL)", "mentions_process_ratio_pg", "num"),
    ],
    "funnels.py": [
        Row(
            "Funnel, 5 ordered steps, 10M events of 1M people (DuckDB)",
            "funnel_10m_s",
            "s",
            "< 1 s",
        ),
        Row("Funnel floor (hand-written DuckDB SQL, same files)", "funnel_floor_10m_s", "s"),
        Row("Funnel / floor", "funnel_ratio", "num", "≤ 1.5"),
        Row("Compaction of the copy's 200 segments into one", "funnel_compact_10m_s", "s"),
        Row("Analytics copy, event store to Parquet (SQLite)", "analytics_copy_per_s", "/s"),
        Row("Analytics copy, event store to Parquet (PostgreSQL)", "analytics_copy_per_s_pg", "/s"),
    ],
    "jobs.py": [
        Row("Driver writes/s, offline queues replayed (SQLite)", "jobs_transitions_per_s", "/s"),
        Row("Driver writes, p99 (SQLite)", "jobs_write_p99_ms", "ms"),
        Row("Driver writes stored twice (SQLite)", "jobs_duplicates", "num", "0"),
        Row("Driver writes / floor (SQLite)", "jobs_ratio", "ratio", "(reported)"),
        Row("10,000 invoices issued (SQLite)", "invoices_10k_s", "s"),
        Row("Invoice PDF, ms each (SQLite)", "invoice_pdf_ms", "num"),
        Row("Driver writes/s, offline queues replayed (PG)", "jobs_transitions_per_s_pg", "/s"),
        Row("Driver writes, p99 (PG)", "jobs_write_p99_ms_pg", "ms"),
        Row("Driver writes stored twice (PG)", "jobs_duplicates_pg", "num", "0"),
        Row("Driver writes / floor (PG)", "jobs_ratio_pg", "ratio", "(reported)"),
        Row("10,000 invoices issued (PG)", "invoices_10k_s_pg", "s"),
        Row("Invoice PDF, ms each (PG)", "invoice_pdf_ms_pg", "num"),
    ],
    "feedback.py": [
        Row("Survey answers/s through the API (SQLite)", "feedback_per_s", "/s"),
        Row("Survey answer, p99 (SQLite)", "feedback_p99_ms", "ms"),
        Row("Survey answers / bare inserts (SQLite)", "feedback_ratio", "num", "(reported)"),
        Row("Feedback summary, 1M answers (SQLite)", "feedback_summary_1m_s", "s"),
        Row("Summary / bare GROUP BY (SQLite)", "feedback_summary_ratio", "num", "(reported)"),
        Row("Survey answers/s through the API (PG)", "feedback_per_s_pg", "/s"),
        Row("Survey answer, p99 (PG)", "feedback_p99_ms_pg", "ms"),
        Row("Survey answers / bare COPY (PG)", "feedback_ratio_pg", "num", "(reported)"),
        Row("Feedback summary, 1M answers (PG)", "feedback_summary_1m_s_pg", "s"),
        Row("Summary / bare GROUP BY (PG)", "feedback_summary_ratio_pg", "num", "(reported)"),
    ],
    "dashboard.py": [
        Row("Dashboard, admin (20 teams), p50 (SQLite)", "dashboard_p50_ms", "ms"),
        Row("Dashboard, admin (20 teams), p99 (SQLite)", "dashboard_p99_ms", "ms", "≤ 300 ms"),
        Row("Dashboard, a lead (1 team), p99 (SQLite)", "dashboard_lead_p99_ms", "ms", "≤ 300 ms"),
        Row("Bare GROUP BY team, week over the loops (SQLite)", "dashboard_bare_ms", "ms"),
        Row("Dashboard p99 / bare aggregate (SQLite)", "dashboard_ratio", "num", "(reported)"),
        Row("Rollups rebuild, 13 weeks (SQLite)", "dashboard_rebuild_s", "s"),
        Row("Rollups refresh, the worker's run (SQLite)", "dashboard_refresh_s", "s"),
        Row("Dashboard, admin, p50 (PostgreSQL)", "dashboard_p50_ms_pg", "ms"),
        Row("Dashboard, admin, p99 (PostgreSQL)", "dashboard_p99_ms_pg", "ms", "≤ 300 ms"),
        Row("Dashboard, a lead, p99 (PostgreSQL)", "dashboard_lead_p99_ms_pg", "ms", "≤ 300 ms"),
        Row("Bare GROUP BY team, week over the loops (PG)", "dashboard_bare_ms_pg", "ms"),
        Row("Dashboard p99 / bare aggregate (PG)", "dashboard_ratio_pg", "num", "(reported)"),
        Row("Rollups rebuild, 13 weeks (PG)", "dashboard_rebuild_s_pg", "s"),
        Row("Rollups refresh, the worker's run (PG)", "dashboard_refresh_s_pg", "s"),
    ],
}

# Every workload a run can be limited to (``run.py --only``), in the order they run.
WORKLOADS = (*ENGINE_ROWS, *(script.removesuffix(".py") for script in SIDE_ROWS))


def engine_suffix(engine: str) -> str:
    return "_pg" if engine == "postgresql" else ""


def side_keys(script: str) -> list[str]:
    return [row.key for row in SIDE_ROWS[script]]


def expected(*, engines: Iterable[str], workloads: Iterable[str]) -> list[str]:
    """The figures a run of these workloads on these engines must produce."""
    engines, workloads = list(engines), set(workloads)
    keys = [
        row.key + engine_suffix(engine)
        for workload, rows in ENGINE_ROWS.items()
        if workload in workloads
        for engine in engines
        for row in rows
    ]
    keys += [
        key
        for script in SIDE_ROWS
        if script.removesuffix(".py") in workloads
        for key in side_keys(script)
        if "postgresql" in engines or not key.endswith("_pg")
    ]
    return keys


_COMPARE = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}


def passes(key: str, value: float) -> bool:
    """Whether ``value`` meets its target; the issues' "above 72" is strict, "≥ 5,000" is not."""
    op, bound = TARGETS[key.removesuffix("_pg")]
    return bool(_COMPARE[op](value, bound))


def _measured(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Verdict:
    """What a run failed on: figures it should have produced and did not, targets missed."""

    missing: list[str]
    missed: list[str]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.missed

    def sentence(self) -> str:
        """The last line of RESULTS.md and of the run's output."""
        if self.ok:
            return "All targets met; no figure missing."
        parts = []
        if self.missing:
            parts.append("Figures missing: " + ", ".join(f"`{k}`" for k in self.missing) + ".")
        if self.missed:
            parts.append("Targets missed: " + ", ".join(f"`{k}`" for k in self.missed) + ".")
        return "FAILED. " + " ".join(parts)


def verdict(results: Mapping[str, Any], expected_keys: Iterable[str]) -> Verdict:
    """Every expected figure is a finite number and every target it carries is met.

    A figure that is absent, ``None`` or not a finite number is missing: a bench that did
    not run (PostgreSQL unreachable, a side bench without its data) cannot meet a target.
    """
    expected_keys = list(dict.fromkeys(expected_keys))
    missing = [k for k in expected_keys if not _measured(results.get(k))]
    present = [k for k in results if k.removesuffix("_pg") in TARGETS and _measured(results[k])]
    missed = [k for k in sorted(present) if not passes(k, results[k])]
    return Verdict(missing=missing, missed=missed)
