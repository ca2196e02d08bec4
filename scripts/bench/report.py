"""Turn the measurements of one `make bench` run into one table, and judge the targets.

    report.py sizes STATE NAME=BOOTSTRAP ...   zip each bootstrap (as Lambda receives it) and
                                               write STATE/sizes.json
    report.py table STATE [--smoke]            print the table; write STATE/results.md and
                                               STATE/results.json (with the missed targets)

Reads STATE/{machine,cold,first-pair,first-rest,warm,sizes}.json and criterion's estimates in
target/criterion/respond/<function>/new/estimates.json. Standard library only.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CRITERION = ROOT / "target" / "criterion" / "respond"

TARGET_COLD_RATIO = 3.0
TARGET_FIRST_RATIO = 20.0
TARGET_MEMORY_SHARE = 0.25
TARGET_BOOTSTRAP = 8 * 1024 * 1024
TARGET_ZIP = 4 * 1024 * 1024


def load(state: Path, name: str):
    p = state / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def mib(b: float | None) -> str:
    return "-" if b is None else f"{b / 1024 / 1024:.2f} MiB"


def cmd_sizes(state: Path, specs: list[str]) -> None:
    out = {}
    zips = state / "zips"
    zips.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        name, _, path = spec.partition("=")
        p = Path(path)
        if not p.exists():
            out[name] = {"error": f"{path} was not built"}
            continue
        z = zips / f"{name}.zip"
        info = zipfile.ZipInfo("bootstrap", date_time=(2026, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with zipfile.ZipFile(z, "w") as zf:
            zf.writestr(info, p.read_bytes(), compresslevel=9)
        out[name] = {"bootstrap": p.stat().st_size, "zip": z.stat().st_size, "path": path}
        print(f"  size {name:<26} bootstrap {mib(out[name]['bootstrap']):>10}  zip {mib(out[name]['zip']):>10}")
    (state / "sizes.json").write_text(json.dumps(out, indent=1))


def criterion(bench_id: str, group: Path = CRITERION) -> dict | None:
    p = group / bench_id / "new" / "estimates.json"
    if not p.exists():
        return None
    e = json.loads(p.read_text())
    return {
        "median_ns": e["median"]["point_estimate"],
        "mean_ns": e["mean"]["point_estimate"],
        "ci": [e["mean"]["confidence_interval"]["lower_bound"], e["mean"]["confidence_interval"]["upper_bound"]],
    }


def fmt_ms(x: float) -> str:
    return f"{x:.2f} ms" if x < 100 else f"{x:.0f} ms"


def fmt_us(ns: float) -> str:
    return f"{ns / 1000:.1f} µs" if ns < 1e6 else f"{ns / 1e6:.2f} ms"


def cmd_table(state: Path, smoke: bool) -> int:
    rows: list[tuple[str, str, str, str, str]] = []
    missed: list[dict] = []
    problems: list[str] = []

    def verdict(ok: bool | None, miss: str = "") -> str:
        if smoke:
            return "not judged (smoke)" if ok is not None else "n/a"
        if ok is None:
            return "n/a"
        return "met" if ok else f"MISSED{': ' + miss if miss else ''}"

    machine = load(state, "machine") or {}
    cold = load(state, "cold") or {}
    first = {"functions": {}}
    for part in ("first-pair", "first-rest"):
        d = load(state, part)
        if d:
            first["functions"].update(d.get("functions", {}))
            for k in ("custodian", "pairs", "ratio", "custodian_error"):
                if d.get(k):
                    first[k] = d[k]
    warm = load(state, "warm") or {}
    sizes = load(state, "sizes") or {}
    functions = machine.get("functions", [])

    # 1. cold start
    empty = cold.get("bench-empty", {})
    empty_med = empty.get("ms", {}).get("median")
    if empty_med:
        s = empty["ms"]
        rows.append(("cold start", "empty lambda_runtime fn", f"median {fmt_ms(s['median'])}, p90 {fmt_ms(s['p90'])} (n={s['n']})", "baseline", ""))
    else:
        problems.append(f"cold start of the empty function: {empty.get('error', 'not measured')}")
    for f in functions:
        c = cold.get(f, {})
        s = c.get("ms", {})
        if not s.get("n"):
            rows.append(("cold start", f, c.get("error", "not measured"), f"≤ {TARGET_COLD_RATIO:.0f}× empty", "n/a"))
            problems.append(f"cold start of {f}: {c.get('error', 'not measured')}")
            continue
        ratio = s["median"] / empty_med if empty_med else None
        ok = None if ratio is None else ratio <= TARGET_COLD_RATIO
        miss = f"{ratio:.2f}× empty, {(ratio / TARGET_COLD_RATIO - 1) * 100:.1f}% over the 3× target" if ratio else ""
        if ok is False and not smoke:
            missed.append({"target": "cold", "function": f, "ratio": ratio})
        p90_ratio = s["p90"] / empty["ms"]["p90"] if empty_med else None
        rows.append((
            "cold start",
            f,
            f"median {fmt_ms(s['median'])}, p90 {fmt_ms(s['p90'])} (n={s['n']}); "
            + (f"{ratio:.2f}× empty (p90 {p90_ratio:.2f}×)" if ratio else ""),
            f"≤ {TARGET_COLD_RATIO:.0f}× empty",
            verdict(ok, miss),
        ))

    for part, label in (
        ("cold-bundle", "a one-bundle platform such as Amazon Linux 2023 (SSL_CERT_FILE = the bundle file alone)"),
        ("cold-noroots", "no TLS root store at all (the floor of the rest of init)"),
    ):
        d = load(state, part) or {}
        f = machine.get("pair_with")
        e, c = d.get("bench-empty", {}).get("ms", {}), d.get(f, {}).get("ms", {})
        if e.get("n") and c.get("n"):
            rows.append((
                "cold start",
                f"{f}: {label}",
                f"median {fmt_ms(c['median'])} vs empty {fmt_ms(e['median'])} in the same pass: {c['median'] / e['median']:.2f}× empty",
                "diagnostic",
                "",
            ))

    # 2. first event, beside Cloud Custodian
    cust = first.get("custodian")
    for f in functions:
        e = first["functions"].get(f, {})
        s = e.get("ms", {})
        if not s.get("n"):
            rows.append(("first event", f, e.get("error", "not measured"), "", "n/a"))
            problems.append(f"first event of {f}: {e.get('error', 'not measured')}")
            continue
        text = (
            f"median {fmt_ms(s['median'])}, p90 {fmt_ms(s['p90'])} (n={s['n']}; invoke part median "
            f"{fmt_ms(e['invoke_ms']['median'])}); outcome {', '.join(e['outcomes'])}; {e['event']}"
        )
        target, ok, miss = "", None, ""
        if cust and f == machine.get("pair_with"):
            r = first["ratio"]
            target = f"≥ {TARGET_FIRST_RATIO:.0f}× faster than Custodian"
            ok = r["min"] >= TARGET_FIRST_RATIO
            text += (
                f"; Custodian / Rust per pair: median {r['median']:.0f}×, min {r['min']:.0f}×, max {r['max']:.0f}× "
                f"(" + " ".join(f"{p['ratio']:.0f}" for p in first["pairs"]) + ")"
            )
            if not ok:
                miss = f"worst pair {r['min']:.1f}×, median {r['median']:.1f}×"
                missed.append({"target": "first", "function": f, "ratio": r["median"]})
        rows.append(("first event", f, text, target, verdict(ok, miss)))
    if cust:
        s = cust["ms"]
        rows.append((
            "first event",
            "Cloud Custodian (c7n)",
            f"median {fmt_ms(s['median'])}, p90 {fmt_ms(s['p90'])} (n={s['n']}); `custodian run`, "
            f"aws.eks public-endpoint filter + notify (SNS); matched {cust.get('resources')}",
            "reference",
            "",
        ))
    elif not smoke:
        problems.append(f"Cloud Custodian: {first.get('custodian_error', 'not run')}")

    # 4. memory
    cust_rss = cust["peak_kb"] * 1024 if cust and cust.get("peak_kb") else None
    for f in functions + ["bench-empty"]:
        e = first["functions"].get(f, {})
        if not e.get("peak_kb"):
            continue
        rss = e["peak_kb"] * 1024
        at = e.get("at_response_kb") or {}
        split = (
            f" (at the response: {mib((at.get('RssFile') or 0) * 1024)} mapped from the binary and libraries, "
            f"{mib((at.get('RssAnon') or 0) * 1024)} heap and stacks, {at.get('Threads')} thread(s))"
            if at.get("VmRSS")
            else ""
        )
        if f == "bench-empty":
            rows.append(("peak memory", "empty lambda_runtime fn", f"{mib(rss)} peak RSS (VmHWM) after one event{split}", "reference", ""))
            continue
        share = rss / cust_rss if cust_rss else None
        ok = None if share is None else share <= TARGET_MEMORY_SHARE
        if ok is False:
            missed.append({"target": "memory", "function": f, "share": share})
        rows.append((
            "peak memory",
            f,
            f"{mib(rss)} peak RSS (VmHWM) in the first-event run{split}" + (f"; {share * 100:.0f}% of Custodian's" if share else ""),
            "≤ 25% of Custodian",
            verdict(ok, f"{share * 100:.0f}% ({share / TARGET_MEMORY_SHARE:.2f}× the limit)" if share else ""),
        ))
    if cust_rss:
        rows.append(("peak memory", "Cloud Custodian (c7n)", f"{mib(cust_rss)} peak RSS ({cust.get('peak_source')})", "reference", ""))

    # 3a. warm stream
    for f in functions:
        w = warm.get(f, {})
        lat = w.get("latency_ms", {})
        if not lat.get("n"):
            rows.append(("warm events", f, w.get("error", "not measured"), "", "n/a"))
            problems.append(f"warm stream of {f}: {w.get('error', 'not measured')}")
            continue
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(w["outcomes"].items()))
        rows.append((
            "warm events",
            f,
            f"{w['events_per_s']:.0f} events/s, p50 {fmt_ms(lat['median'])}, p99 {fmt_ms(lat['p99'])} "
            f"(n={lat['n']} over {len(w['files'])} sample event(s); {outcomes})",
            "measured",
            "" if not w.get("error") else f"stopped: {w['error']}",
        ))
        if w.get("error"):
            problems.append(f"warm stream of {f}: {w['error']}")

    # 3b. each function's respond with mocked AWS (criterion)
    if smoke:
        rows.append(("respond, AWS mocked", "criterion", "smoke: each benchmark ran once (debug build), not measured", "", "n/a"))
    else:
        found = False
        for f in functions:
            c = criterion(f)
            if not c:
                continue
            found = True
            rows.append((
                "respond, AWS mocked",
                f,
                f"{fmt_us(c['median_ns'])} per event (median; every AWS call answered at once)",
                "measured",
                "",
            ))
        if not found:
            problems.append("respond: no criterion estimates")

    # 5. size
    if smoke:
        rows.append(("size", "arm64 bootstrap / zip", "smoke: not built", "", "n/a"))
    for name in functions + ["bench-empty"]:
        z = sizes.get(name)
        if not z:
            continue
        if "error" in z:
            rows.append(("size", name, z["error"], "", "n/a"))
            if name != "bench-empty":
                problems.append(f"size of {name}: {z['error']}")
            continue
        if name == "bench-empty":
            rows.append(("size", "empty lambda_runtime fn", f"bootstrap {mib(z['bootstrap'])}, zip {mib(z['zip'])}", "reference", ""))
            continue
        ok = z["bootstrap"] <= TARGET_BOOTSTRAP and z["zip"] <= TARGET_ZIP
        miss = []
        if z["bootstrap"] > TARGET_BOOTSTRAP:
            miss.append(f"bootstrap {mib(z['bootstrap'] - TARGET_BOOTSTRAP)} over")
        if z["zip"] > TARGET_ZIP:
            miss.append(f"zip {mib(z['zip'] - TARGET_ZIP)} over")
        if not ok:
            missed.append({"target": "size", "function": name})
        rows.append((
            "size",
            name,
            f"bootstrap {mib(z['bootstrap'])} ({z['bootstrap']:,} B), zip {mib(z['zip'])} ({z['zip']:,} B)",
            "≤ 8 MiB / ≤ 4 MiB",
            verdict(ok, ", ".join(miss)),
        ))

    head = "| measurement | subject | result | target | verdict |\n|---|---|---|---|---|\n"
    table = head + "".join(f"| {' | '.join(c.replace('|', '/') for c in r)} |\n" for r in rows)
    lines = [
        f"`make bench{' (smoke)' if smoke else ''}` — {machine.get('date', '?')}",
        "",
        f"Machine: {machine.get('nproc', '?')} cores ({machine.get('cpu', '?')}), {machine.get('memory', '?')} RAM, "
        f"{machine.get('kernel', '?')}; {machine.get('rustc', '?')}; load average at start {machine.get('load_start', '?')}, "
        f"at end {machine.get('load_end', '?')}; measured at nice {machine.get('nice', 0)}.",
        (
            "Smoke run: host debug binaries, 2 runs each, no Custodian, no arm64 build; nothing is judged."
            if smoke
            else "Cold start and first event use host (x86_64) release binaries and a Runtime API on loopback; "
            "sizes are the arm64 `cargo lambda build --release --arm64` bootstraps."
        ),
        "",
        table,
    ]
    if problems:
        lines.append("Not measured:\n" + "".join(f"- {p}\n" for p in problems))
    text = "\n".join(lines)
    print(text)
    (state / "results.md").write_text(text)
    (state / "results.json").write_text(json.dumps({"missed": missed, "problems": problems}, indent=1))
    return 1 if problems else 0


def main() -> int:
    if len(sys.argv) >= 3 and sys.argv[1] == "sizes":
        cmd_sizes(Path(sys.argv[2]), sys.argv[3:])
        return 0
    if len(sys.argv) >= 3 and sys.argv[1] == "table":
        return cmd_table(Path(sys.argv[2]), "--smoke" in sys.argv[3:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
