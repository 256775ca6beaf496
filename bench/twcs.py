"""First-reply times and unanswered customer tweets per brand, on real Twitter support data.

    python bench/twcs.py [--data DIR] [--min-tweets N] [--no-write]

Reads ``twcs-customer-support-twitter`` (and ``ibm-twitter-customer-care``) under DIR
(default ``../shared/data`` next to the repo), prints the figures as JSON on stdout and
writes ``bench/TWCS.md``. Standard library only; runs in well under a second.

Rule per customer tweet c (``inbound`` True) of ``twcs_first_5000_rows.csv``:

- brand replies = tweets in the slice by a brand account (a non-inbound author) whose
  ``in_response_to_tweet_id`` is c, or whose id is listed in c's ``response_tweet_id``;
- **answered** when there is one: first-reply time = earliest brand reply − c.created_at;
- else **unknown** when c's ``response_tweet_id`` lists an id that is not in the slice (that
  reply could be the brand's: truncation, we cannot tell);
- else **never answered**: c's ``response_tweet_id`` is empty (upstream computed it over the
  whole 2.8 M-tweet dataset, so nothing in the dataset replied to c) or every reply it lists
  is in the slice and none is a brand's.

Brand of c: the brand that replied first; else the first @mention in c's text that is a
brand handle seen in the slice; else an anonymised ``@<number>`` learned as a brand's main
account; else the first brand tweet further down c's thread; else the brand author of the
tweet c replies to (or that tweet's brand); else ``(unattributed)``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_DATA = REPO.parent / "shared" / "data"
TWCS = "twcs-customer-support-twitter"
SLICE = "twcs_first_5000_rows.csv"
SPOTIFY = "spotifycares_inbound_requests.csv"
IBM = "ibm-twitter-customer-care/first_response_times.csv"
MENTION = re.compile(r"@(\w+)")
HOUR = 3600.0
DAY = 24 * HOUR
ALIASES: dict[str, str] = {}  # "@<number>" → brand, learned by classify() (reported in the JSON)


def _id(value: str) -> str:
    """Ids arrive as ``3`` or ``3.0`` (a pandas re-save); normalise to ``3``."""
    value = value.strip()
    return str(int(float(value))) if value else ""


def _ids(value: str) -> list[str]:
    return [_id(part) for part in value.split(",") if part.strip()]


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (no interpolation); None for an empty list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def human(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < HOUR:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * DAY:
        return f"{seconds / HOUR:.1f} h"
    return f"{seconds / DAY:.1f} d"


def load_slice(path: Path) -> tuple[dict[str, dict], int]:
    tweets: dict[str, dict] = {}
    malformed = 0
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if (
                row["inbound"] not in ("True", "False")
                or not row["author_id"]
                or not row["created_at"]
            ):
                malformed += 1
                continue
            tweet_id = _id(row["tweet_id"])
            tweets[tweet_id] = {
                "id": tweet_id,
                "author": row["author_id"],
                "inbound": row["inbound"] == "True",
                "at": datetime.strptime(
                    row["created_at"], "%a %b %d %H:%M:%S %z %Y"
                ),  # Tue Oct 31 22:10:47 +0000 2017
                "text": row["text"],
                "responses": _ids(row["response_tweet_id"]),
                "parent": _id(row["in_response_to_tweet_id"]),
            }
    return tweets, malformed


def classify(tweets: dict[str, dict]) -> list[dict]:
    """One record per customer tweet: outcome, first-reply seconds, brand, opener or not."""
    brands = {t["author"] for t in tweets.values() if not t["inbound"]}
    lower_brands = {b.lower(): b for b in brands}
    replies_to: dict[str, list[dict]] = defaultdict(list)
    for t in tweets.values():
        if t["parent"]:
            replies_to[t["parent"]].append(t)

    records: dict[str, dict] = {}
    for t in sorted((t for t in tweets.values() if t["inbound"]), key=lambda t: int(t["id"])):
        candidates = {r["id"]: r for r in replies_to[t["id"]]}
        candidates.update({rid: tweets[rid] for rid in t["responses"] if rid in tweets})
        brand_replies = sorted(
            (r for r in candidates.values() if not r["inbound"]),
            key=lambda r: (r["at"], int(r["id"])),
        )
        record = {"id": t["id"], "opener": not t["parent"], "seconds": None, "reply_id": None}
        if brand_replies:
            first = brand_replies[0]
            record.update(
                outcome="answered",
                brand=first["author"],
                reply_id=first["id"],
                seconds=(first["at"] - t["at"]).total_seconds(),
            )
        else:
            missing = [rid for rid in t["responses"] if rid not in tweets]
            record["outcome"] = "unknown" if missing else "never"
            record["brand"] = None
            for handle in MENTION.findall(t["text"]):
                if handle.lower() in lower_brands:
                    record["brand"] = lower_brands[handle.lower()]
                    break
        records[t["id"]] = record

    # Brand-owned main accounts (@amazon, @Uber…) are not support accounts of the dataset, so
    # upstream anonymised them like customers. Learn "@<number> → brand" from answered tweets:
    # a number mentioned in at least 2 tweets that one brand answered, and never for another.
    pairs: dict[str, Counter] = defaultdict(Counter)
    for record in records.values():
        if record["outcome"] == "answered":
            for handle in set(MENTION.findall(tweets[record["id"]]["text"])):
                if handle.isdigit():
                    pairs[handle][record["brand"]] += 1
    alias = {
        h: c.most_common(1)[0][0] for h, c in pairs.items() if len(c) == 1 and sum(c.values()) >= 2
    }
    ALIASES.clear()
    ALIASES.update(alias)

    for record in records.values():
        if record["brand"] is None:
            for handle in MENTION.findall(tweets[record["id"]]["text"]):
                if handle in alias:
                    record["brand"] = alias[handle]
                    break
        # A brand tweet further down the thread (a reply to a reply inside the slice).
        record["brand_later_in_thread"] = None
        record["thread_seconds"] = None
        if record["outcome"] != "answered":
            stack, seen = [record["id"]], set()
            while stack:
                node = stack.pop()
                if node in seen:
                    continue
                seen.add(node)
                children = {r["id"] for r in replies_to[node]} | {
                    rid for rid in tweets[node]["responses"] if rid in tweets
                }
                for child in children:
                    if not tweets[child]["inbound"]:
                        later = tweets[child]
                        delay = (later["at"] - tweets[record["id"]]["at"]).total_seconds()
                        if (
                            record["brand_later_in_thread"] is None
                            or delay < record["thread_seconds"]
                        ):
                            record["brand_later_in_thread"] = later["author"]
                            record["thread_seconds"] = delay
                    stack.append(child)
            record["brand"] = record["brand"] or record["brand_later_in_thread"]

    # Fall back on the thread: the brand the customer was replying to, or (for a chain of the
    # customer's own tweets) the brand already attributed to the earlier tweet.
    for record in records.values():
        seen = set()
        parent_id = tweets[record["id"]]["parent"]
        while (
            record["brand"] is None and parent_id and parent_id in tweets and parent_id not in seen
        ):
            seen.add(parent_id)
            parent = tweets[parent_id]
            if not parent["inbound"]:
                record["brand"] = parent["author"]
            elif parent_id in records and records[parent_id]["brand"]:
                record["brand"] = records[parent_id]["brand"]
            parent_id = parent["parent"]
        record["brand"] = record["brand"] or "(unattributed)"
    return list(records.values())


def summarise(records: list[dict]) -> dict:
    counts = Counter(r["outcome"] for r in records)
    n = len(records)
    known = counts["answered"] + counts["never"]
    times = sorted(r["seconds"] for r in records if r["outcome"] == "answered")
    within = lambda limit: sum(1 for s in times if s <= limit)  # noqa: E731

    def share(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    return {
        "customer_tweets": n,
        "answered": counts["answered"],
        "never_answered": counts["never"],
        "unknown": counts["unknown"],
        "share_answered": share(counts["answered"], n),
        "share_never_answered": share(counts["never"], n),
        "share_unknown": share(counts["unknown"], n),
        # Among tweets whose outcome is known (answered or never): the point estimate if the
        # unknown ones behaved like the known ones. The bounds are never/n and (never+unknown)/n.
        "share_never_of_known": share(counts["never"], known),
        # Never answered directly, but a brand tweet appears further down the same thread.
        "never_but_brand_later_in_thread": sum(
            1 for r in records if r["outcome"] == "never" and r.get("brand_later_in_thread")
        ),
        "never_brand_later_p50_s": percentile(
            sorted(
                r["thread_seconds"]
                for r in records
                if r["outcome"] == "never" and r.get("thread_seconds") is not None
            ),
            50,
        ),
        "unknown_with_brand_later_in_thread": sum(
            1 for r in records if r["outcome"] == "unknown" and r.get("brand_later_in_thread")
        ),
        "p50_s": percentile(times, 50),
        "p90_s": percentile(times, 90),
        "p99_s": percentile(times, 99),
        "share_within_1h_of_answered": share(within(HOUR), len(times)),
        "share_within_24h_of_answered": share(within(DAY), len(times)),
        "share_within_1h_of_known": share(within(HOUR), known),
        "share_within_24h_of_known": share(within(DAY), known),
    }


def by_brand(records: list[dict], min_tweets: int) -> dict[str, dict]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        groups[r["brand"]].append(r)
    table: dict[str, dict] = {}
    other: list[dict] = []
    small = 0
    for brand, rows in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0].lower())):
        if len(rows) >= min_tweets and brand != "(unattributed)":
            table[brand] = summarise(rows)
        elif brand != "(unattributed)":
            other.extend(rows)
            small += 1
    if other:
        table[f"other ({small} brands)"] = summarise(other)
    if groups.get("(unattributed)"):
        table["(unattributed)"] = summarise(groups["(unattributed)"])
    table["overall"] = summarise(records)
    return table


def spotify_summary(path: Path) -> dict | None:
    if not path.exists():
        return None
    n = no_reply = openers = malformed = 0
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["inbound"] != "True":
                malformed += 1
                continue
            n += 1
            no_reply += not row["response_tweet_id"].strip()
            openers += not row["in_response_to_tweet_id"].strip()
    return {
        "customer_tweets": n,
        "malformed_rows_skipped": malformed,
        "openers": openers,
        "no_reply_at_all": no_reply,
        "share_no_reply_at_all": round(no_reply / n, 4) if n else None,
    }


def ibm_summary(path: Path, min_rows: int) -> dict | None:
    if not path.exists():
        return None
    groups: dict[str, list[float]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            groups[row["company"]].append(float(row["first_response_seconds"]))

    def summ(values: list[float]) -> dict:
        values = sorted(values)
        return {
            "conversations": len(values),
            "p50_s": percentile(values, 50),
            "p90_s": percentile(values, 90),
            "p99_s": percentile(values, 99),
            "share_within_1h": round(sum(v <= HOUR for v in values) / len(values), 4),
            "share_within_24h": round(sum(v <= DAY for v in values) / len(values), 4),
        }

    table: dict[str, dict] = {}
    other: list[float] = []
    small = 0
    for company, values in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0].lower())):
        if len(values) >= min_rows:
            table[company] = summ(values)
        else:
            other.extend(values)
            small += 1
    if other:
        table[f"other ({small} brands)"] = summ(other)
    table["overall"] = summ([v for values in groups.values() for v in values])
    return table


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def render(result: dict) -> str:
    s = result["slice"]
    o = result["twcs_by_brand"]["overall"]
    op = result["twcs_openers_by_brand"]["overall"]
    lines = [
        "# Unanswered customer tweets and first-reply times per brand (TWCS)",
        "",
        "`python bench/twcs.py [--data DIR] [--min-tweets N]` — standard library only; prints",
        "JSON and writes this file. Issue 6, Mentions: *the unattended rant, measured on real data*.",
        "",
        "## Data, source and license",
        "",
        f"- `{TWCS}/{SLICE}`: the first 5,001 rows of the Kaggle dataset *Customer Support on",
        "  Twitter* (ThoughtVector, 2017; ~2.81 M tweets, 108 brands), via a GitHub copy",
        "  (monalisapatra26/data_visualization, commit `40f02792…`). Tweet ids 1–7,630, mostly Oct 31 2017.",
        f"  {s['rows']:,} usable rows ({s['customer_tweets']:,} customer, {s['brand_tweets']:,} brand tweets from",
        f"  {s['brands']} brand accounts), {s['malformed_rows']} malformed row skipped.",
        f"- `{TWCS}/{SPOTIFY}`: customer tweets addressed to @SpotifyCares from the same dataset",
        "  (inbound side only) — used for the no-reply share only, see below.",
        f"- `{IBM}`: IBM Twitter customer-care conversations (2018–2020), derived first-response times.",
        "- License: the Kaggle dataset is listed as **CC BY-NC-SA 4.0** (non-commercial, share-alike):",
        "  fine for evaluation, do not ship the tweets in the package or its fixtures. The IBM set is",
        "  Apache-2.0 but not anonymised (real handles). Only aggregate figures appear here.",
        "",
        "## Method",
        "",
        "A customer tweet is one with `inbound` = True; brand accounts are the non-inbound authors.",
        "For each customer tweet *c*:",
        "",
        "- **answered**: a brand tweet in the slice has `in_response_to_tweet_id` = *c*, or is listed",
        "  in *c*'s `response_tweet_id`. First-reply time = earliest such brand tweet − *c*.created_at.",
        "- **unknown**: no brand reply in the slice, but *c*'s `response_tweet_id` lists an id that is",
        "  not in the slice — that reply might be the brand's (truncation: we cannot tell).",
        "- **never answered**: *c*'s `response_tweet_id` is empty (upstream computed it over the whole",
        "  2.8 M-tweet dataset, so *nothing* in the dataset replied to *c*), or every reply it lists is",
        "  in the slice and none is from a brand.",
        "",
        "Brand of *c*: the brand that replied first; else the first `@handle` in the text that is a",
        "brand account of the slice; else an anonymised `@<number>` learned as a brand's main account;",
        "else the first brand tweet further down *c*'s thread; else the brand whose tweet *c* replies",
        "to (or, for a chain of the customer's own tweets, the brand of the earlier one). Brands with fewer than",
        f"{result['min_tweets']} customer tweets are pooled as *other*. Percentiles are nearest-rank over",
        "the answered tweets. *≤ 1 h / ≤ 24 h* are shares of the **answered** tweets; the JSON also",
        "gives them over answered + never answered (`…_of_known`), where a never-answered tweet is a miss.",
        "",
        "Two populations: **all customer tweets** (includes follow-ups such as *“ok thanks”* after a",
        "brand reply, which nobody answers and nobody should), and **openers** (`in_response_to_tweet_id`",
        "empty: the customer starts the thread — the rant the issue means).",
        "",
        "## Result: openers (thread-starting customer tweets)",
        "",
    ]
    lines += _table(result["twcs_openers_by_brand"])
    lines += ["", "## Result: all customer tweets", ""]
    lines += _table(result["twcs_by_brand"])
    lines += [
        "",
        "## Reading it",
        "",
        f"- Openers: {pct(op['share_answered'])} % answered in the slice, {pct(op['share_never_answered'])} % never answered,",
        f"  {pct(op['share_unknown'])} % unknown. The never-answered share of openers therefore lies between",
        f"  {pct(op['share_never_answered'])} % and {pct((op['never_answered'] + op['unknown']) / op['customer_tweets'])} %;"
        f" {pct(op['share_never_of_known'])} % if the unknown ones behave like the known ones.",
        f"- **But no opener was left alone.** All {s['openers_whose_thread_has_a_brand_tweet']:,} of {s['customer_openers']:,} openers have a brand",
        f"  tweet in their thread inside the slice; the {op['never_answered']} never-answered openers got the brand",
        "  further down the thread (it answered the customer's next tweet, or another participant),",
        f"  median {human(op['never_brand_later_p50_s'])} after the opener. The Kaggle dataset was built from",
        "  conversations in which a brand replied (its description, as we recall it — the Kaggle page",
        "  is not reachable here — and the data agree: every opener's thread has a brand tweet), so",
        "  **a rant nobody from the brand touched is not in",
        "  this data by construction**: it measures direct-reply coverage and reply latency, not the",
        "  true unattended share. That needs the brand's full mention stream (search/stream API), which",
        "  is what lastmile's own import of mentions will give.",
        f"- All customer tweets: {pct(o['share_never_answered'])} % never answered, {pct(o['share_unknown'])} % unknown;",
        "  most never-answered ones are follow-ups in threads the brand already answered, so this",
        "  share overstates neglect. Use the opener table for the unattended rant.",
        f"- First reply (all answered customer tweets): p50 {human(o['p50_s'])}, p90 {human(o['p90_s'])},"
        f" p99 {human(o['p99_s'])}; {pct(o['share_within_1h_of_answered'])} % within 1 h,"
        f" {pct(o['share_within_24h_of_answered'])} % within 24 h.",
        "",
    ]
    sp = result.get("spotify")
    if sp:
        lines += [
            "## SpotifyCares inbound file",
            "",
            f"{sp['customer_tweets']:,} customer tweets addressed to @SpotifyCares ({sp['malformed_rows_skipped']} empty rows skipped);",
            f"only {sp['openers']} are thread openers — the rest reply to earlier tweets, mostly Spotify's.",
            "The brand replies and the replied-to tweets are **not** in the file and tweet ids are",
            "anonymised sequence numbers (no Twitter snowflake time), so no reply time and no",
            f"answered-by-brand can be derived. What can: {sp['no_reply_at_all']:,}"
            f" ({pct(sp['share_no_reply_at_all'])} %) have an empty",
            "`response_tweet_id`, i.e. nothing in the dataset ever replied to them — a lower bound on",
            "not-answered-by-Spotify, inflated as a neglect figure by follow-ups that need no answer.",
            "",
        ]
    ibm = result.get("ibm")
    if ibm:
        lines += [
            "## Cross-check: IBM Twitter customer care (2018–2020), first response per conversation",
            "",
            "Every conversation there was answered (each ends with the agent sending a help URL), so",
            "it measures reply time only, not the unanswered share; times are first agent turn − first",
            "customer turn (agent time decoded from the tweet-id snowflake for most).",
            "",
            "| brand | conversations | p50 | p90 | p99 | ≤ 1 h % | ≤ 24 h % |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for company, row in ibm.items():
            name = f"**{company}**" if company == "overall" else company
            lines.append(
                f"| {name} | {row['conversations']:,} | {human(row['p50_s'])} | {human(row['p90_s'])} |"
                f" {human(row['p99_s'])} | {pct(row['share_within_1h'])} | {pct(row['share_within_24h'])} |"
            )
        lines.append("")
    lines += [
        "## Spot checks (by hand, against the raw CSV)",
        "",
        "- Tweet 714 (customer, iOS 11.1 issue, 22:19:32) → AppleSupport 712 (`in_response_to` 714,",
        "  22:26:29): answered, 417 s. The script says 417 s, AppleSupport. Its other reply, 715, is outside",
        "  the slice — irrelevant once a brand reply is found.",
        "- Tweet 1260 (customer to @hulu_support, Mon Oct 30 01:02:34) → hulu_support 1258 (Tue Oct 31",
        "  22:28:55): answered after 45 h 26 min = 163,581 s. Script: 163,581 s. hulu_support's 45 h median",
        "  is real in this slice: 22 of its answered tweets were sent on Oct 30 and answered on Oct 31.",
        "- Tweet 49 (customer, *“tried to pay a bill for 60 days…”*, addressed to @115722) → its only",
        "  reply 48 is by account 115722 (`inbound` = True, signed *^JAY*): an anonymised Verizon main",
        "  account, so *never answered* by a support handle; VerizonSupport appears 30 min later down the",
        "  thread. Script: never, VerizonSupport, brand later in thread after 1,791 s — the anonymised-",
        "  account caveat below in one example.",
        "- Tweet 156 (customer, *“So frustrated with @ChipotleTweets”*, Oct 23) → replies 155 (the same",
        "  customer thanking Chipotle, Oct 31) and 157 (not in the slice): *unknown*, ChipotleTweets.",
        "",
        "## Caveats",
        "",
        f"- **Truncation.** {s['missing_response_refs']:,} of {s['response_refs']:,} reply ids listed by slice tweets are",
        "  not in the slice. Tweets with such a reply are counted *unknown*, never *never answered*;",
        "  the never-answered figures rest on `response_tweet_id` being empty, which upstream computed",
        "  over the full dataset, so they do not suffer from the cut.",
        "- **Reply times are biased low.** A brand reply that came late is more likely to fall outside",
        "  the slice (it is then *unknown*), so p90/p99 here understate the tail; the IBM set,",
        "  with whole conversations, shows a much slower median.",
        "- **Small and not random.** 5,000 rows from the top of the file: 61 % of the tweets are from",
        "  Oct 31 2017 (threads reach back to Oct 2017 and on to Dec 2017, one stray 2011 tweet); per-brand",
        "  rows rest on tens of tweets — indicative, not a benchmark of the brand.",
        "- **Direct replies only.** A brand that answers a customer's later tweet, or by DM, leaves",
        "  the earlier tweet *never answered* here; the dataset only records who replied to what.",
        "- **Brand main accounts are anonymised.** Upstream replaced every non-support handle by a",
        "  number, including brands' main accounts (@amazon-like): their tweets are `inbound` = True and",
        "  count as customer tweets, and a reply from one does not count as a brand reply here.",
        f"  {s['never_replied_by_alias_account']} never-answered tweets were replied to by such a number that mostly",
        "  appears in tweets one brand answered (likely a brand main account), so *never answered* is",
        "  somewhat overstated; a few openers are brand promotions posted from those accounts.",
        "- **Attribution** of an unanswered tweet: an @brand mention; else a number learned as a brand's",
        f"  main account ({s['learned_numeric_brand_aliases']} learned: mentioned in ≥ 2 answered tweets, all answered by one",
        "  brand); else the first brand tweet further down the thread; else the tweet it replies to. Every",
        "  customer tweet of the slice ends up attributed (no *(unattributed)* row).",
        "- The README's own count (2,082 customer tweets with a brand reply in the file) differs by one",
        "  from ours (2,083): we accept a reply found through either `response_tweet_id` or",
        "  `in_response_to_tweet_id`.",
        "",
    ]
    return "\n".join(lines)


def _table(table: dict[str, dict]) -> list[str]:
    out = [
        "| brand | customer tweets | answered % | never answered % | unknown % | p50 | p90 | p99 | ≤ 1 h % | ≤ 24 h % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for brand, row in table.items():
        name = f"**{brand}**" if brand == "overall" else brand
        out.append(
            f"| {name} | {row['customer_tweets']:,} | {pct(row['share_answered'])} | {pct(row['share_never_answered'])} |"
            f" {pct(row['share_unknown'])} | {human(row['p50_s'])} | {human(row['p90_s'])} | {human(row['p99_s'])} |"
            f" {pct(row['share_within_1h_of_answered'])} | {pct(row['share_within_24h_of_answered'])} |"
        )
    return out


def run(data: Path, min_tweets: int) -> dict:
    tweets, malformed = load_slice(data / TWCS / SLICE)
    records = classify(tweets)
    refs = [rid for t in tweets.values() for rid in t["responses"]]
    negative = [r for r in records if r["seconds"] is not None and r["seconds"] < 0]
    openers = [r for r in records if r["opener"]]
    return {
        "min_tweets": min_tweets,
        "slice": {
            "rows": len(tweets),
            "malformed_rows": malformed,
            "customer_tweets": len(records),
            "customer_openers": len(openers),
            "brand_tweets": sum(1 for t in tweets.values() if not t["inbound"]),
            "brands": len({t["author"] for t in tweets.values() if not t["inbound"]}),
            "response_refs": len(refs),
            "missing_response_refs": sum(1 for rid in refs if rid not in tweets),
            "negative_reply_times": len(negative),
            "learned_numeric_brand_aliases": len(ALIASES),
            # Never-answered tweets directly replied to by an account that is a learned brand
            # alias (a brand main account anonymised upstream and flagged inbound): likely answered.
            "never_replied_by_alias_account": sum(
                1
                for r in records
                if r["outcome"] == "never"
                and any(
                    rid in tweets and tweets[rid]["author"] in ALIASES
                    for rid in tweets[r["id"]]["responses"]
                )
            ),
            "openers_whose_thread_has_a_brand_tweet": sum(
                1 for r in openers if r["outcome"] == "answered" or r["brand_later_in_thread"]
            ),
        },
        "twcs_openers_by_brand": by_brand(openers, min_tweets),
        "twcs_by_brand": by_brand(records, min_tweets),
        "spotify": spotify_summary(data / TWCS / SPOTIFY),
        "ibm": ibm_summary(data / IBM, min_tweets),
        "_records": records,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument(
        "--min-tweets", type=int, default=20, help="brands below this pool into 'other'"
    )
    parser.add_argument("--no-write", action="store_true", help="do not write bench/TWCS.md")
    parser.add_argument(
        "--show",
        metavar="TWEET_ID",
        action="append",
        default=[],
        help="print the classification of one customer tweet (spot checks)",
    )
    args = parser.parse_args(argv)
    if not (args.data / TWCS / SLICE).exists():
        parser.error(f"{args.data / TWCS / SLICE} not found (pass --data ../shared/data)")
    result = run(args.data, args.min_tweets)
    records = result.pop("_records")
    for tweet_id in args.show:
        print(json.dumps(next((r for r in records if r["id"] == tweet_id), None)), file=sys.stderr)
    if not args.no_write:
        (BENCH_DIR / "TWCS.md").write_text(render(result), encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
