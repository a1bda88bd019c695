"""Tables of a metric-suite run (``benchmarks.metric_suite``): times and
ratios, value checks, state sizes and peak allocations, and which targets
each metric meets.

Targets (issue 19): small inputs: lossbridge at least as fast as Keras and as
torchmetrics (``Keras/LB >= 1``, ``TM/LB >= 1``); large inputs: the same and
at most 4x the one-pass floor (``LB/floor <= 4``); state: no more bytes than
Keras' state. The same speed targets are judged for lossbridge with
``compile=True`` (``LBc``, where the backend has a compiler), so each table
says which targets the eager update meets and which the compiled one does.
"""

from __future__ import annotations

from . import metric_cases as MC

FLOOR_TARGET = 4.0


def _index(doc):
    """``{(backend, case, size): {variant: row}}``."""
    table = {}
    for row in doc["rows"]:
        table.setdefault((row["backend"], row["case"], row["size"]), {})[row["variant"]] = row
    return table


def _median(rows, variant):
    row = rows.get(variant)
    return row["median"] if row and "median" in row else None


def _ratio(a, b):
    return a / b if a is not None and b else None


def _fmt(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def _us(x):
    return "-" if x is None else f"{x * 1e6:.1f}"


def _check_text(check):
    if check is None:
        return "-"
    parts = []
    for other, label in (("lbc", "C"), ("keras", "K"), ("tm", "TM")):
        if f"{other}_ok" in check:
            ok = check[f"{other}_ok"]
            parts.append(f"{label} ok" if ok else f"{label} DIFF {check[f'{other}_rel_diff']:.1e}")
    return ", ".join(parts) or "-"


def ratios(doc):
    """One dict per (backend, case, size): times and the ratios the targets read."""
    checks = {(c["backend"], c["case"], c["size"]): c for c in doc.get("checks", [])}
    out = []
    for (backend, case, size), rows in sorted(_index(doc).items()):
        lb, lbc, keras, tm, floor = (_median(rows, v) for v in ("lb", "lbc", "keras", "tm", "floor"))
        out.append(
            {
                "backend": backend,
                "case": case,
                "size": size,
                "lb_us": lb,
                "keras_us": keras,
                "tm_us": tm,
                "keras_over_lb": _ratio(keras, lb),
                "tm_over_lb": _ratio(tm, lb),
                "lb_over_floor": _ratio(lb, floor),
                "lbc_us": lbc,
                "keras_over_lbc": _ratio(keras, lbc),
                "tm_over_lbc": _ratio(tm, lbc),
                "lbc_over_floor": _ratio(lbc, floor),
                "check": checks.get((backend, case, size)),
            }
        )
    return out


def timing_table(doc):
    lines = [
        "Keras/LB, TM/LB: the other library's time / lossbridge's (above 1: lossbridge faster);"
        " LB/floor: lossbridge / a plain sum of the inputs (large); LBc: lossbridge with compile=True",
        f"{'backend':10s} {'metric':27s} {'size':5s} {'LB us':>10s} {'Keras us':>10s} {'Keras/LB':>8s}"
        f" {'TM us':>10s} {'TM/LB':>7s} {'LB/floor':>8s} {'LBc us':>10s} {'Keras/LBc':>9s} {'TM/LBc':>7s}"
        f" {'LBc/floor':>9s}  check",
    ]
    for r in ratios(doc):
        lines.append(
            f"{r['backend']:10s} {r['case']:27s} {r['size']:5s} {_us(r['lb_us']):>10s} {_us(r['keras_us']):>10s}"
            f" {_fmt(r['keras_over_lb']):>8s} {_us(r['tm_us']):>10s} {_fmt(r['tm_over_lb']):>7s}"
            f" {_fmt(r['lb_over_floor']):>8s} {_us(r['lbc_us']):>10s} {_fmt(r['keras_over_lbc']):>9s}"
            f" {_fmt(r['tm_over_lbc']):>7s} {_fmt(r['lbc_over_floor']):>9s}  {_check_text(r['check'])}"
        )
    return "\n".join(lines)


def memory_table(doc):
    lines = [
        "state: bytes of all state tensors after one update (large inputs); peak: the most bytes allocated at once"
        " during one large lossbridge update_state (numpy: tracemalloc; torch CPU: profiler allocation events),"
        " / input bytes",
        f"{'backend':10s} {'metric':27s} {'LB state':>9s} {'Keras st':>9s} {'TM state':>9s} {'LB peak x':>9s}",
    ]
    for m in sorted(doc.get("memory", []), key=lambda m: (m["backend"], m["case"])):
        if m["size"] != "large":
            continue
        peak = _ratio(m.get("lb_peak_bytes"), m["input_bytes"])
        lines.append(
            f"{m['backend']:10s} {m['case']:27s} {m.get('lb_state_bytes', '-'):>9} {m.get('keras_state_bytes', '-'):>9}"
            f" {m.get('tm_state_bytes', '-'):>9} {_fmt(peak):>9s}"
        )
    return "\n".join(lines)


def targets(doc):
    """``{target: (met, missed)}``, each a list of ``(backend, case, value)``."""
    result = {}

    def judge(name, value, good):
        if value is not None:
            result.setdefault(name, ([], []))[0 if good(value) else 1].append((backend, case, value))

    for r in ratios(doc):
        backend, case, size = r["backend"], r["case"], r["size"]
        for label, key, kind in (("LB", "lb", ""), ("LBc", "lbc", " (compiled)")):
            judge(f"{size}: Keras/{label} >= 1{kind}", r[f"keras_over_{key}"], lambda v: v >= 1)
            judge(f"{size}: TM/{label} >= 1{kind}", r[f"tm_over_{key}"], lambda v: v >= 1)
            if size == "large":
                judge(
                    f"large: {label}/floor <= {FLOOR_TARGET:g}{kind}",
                    r[f"{key}_over_floor"],
                    lambda v: v <= FLOOR_TARGET,
                )
    for m in doc.get("memory", []):
        if m["size"] == "large" and "lb_state_bytes" in m and "keras_state_bytes" in m:
            backend, case = m["backend"], m["case"]
            judge("state: LB bytes <= Keras'", m["lb_state_bytes"] / max(m["keras_state_bytes"], 1), lambda v: v <= 1)
    return result


def targets_text(doc):
    lines = []
    for name, (met, missed) in targets(doc).items():
        lines.append(f"{name}: met {len(met)}, missed {len(missed)}")
        for backend, case, value in sorted(missed):
            lines.append(f"    missed  {backend:10s} {case:27s} {value:.2f}")
    return "\n".join(lines)


def mismatches(doc):
    return [c for c in doc.get("checks", []) if False in (c.get("lbc_ok"), c.get("keras_ok"), c.get("tm_ok"))]


def full_report(doc):
    parts = ["== metrics: update_state + result per call ==", timing_table(doc)]
    parts += ["", "== metrics: memory ==", memory_table(doc), "", "== metrics: targets ==", targets_text(doc)]
    bad = mismatches(doc)
    parts += ["", f"== value checks: {len(doc.get('checks', [])) - len(bad)} agree, {len(bad)} differ =="]
    for c in bad:
        parts.append(
            f"  {c['backend']} {c['case']} {c['size']}: lb={c['lb']} lbc={c.get('lbc')} keras={c.get('keras')}"
            f" tm={c.get('tm')}"
        )
    if doc.get("notes"):
        parts += ["", "notes:"] + [f"  {n}" for n in doc["notes"]]
    return "\n".join(parts)


def mapping_markdown():
    lines = [
        "| metric | lossbridge / Keras class, options | inputs | torchmetrics class, arguments | adapted |",
        "|---|---|---|---|---|",
    ]
    for c in MC.METRICS:
        options = ", ".join(f"{k}={v!r}" for k, v in c.options.items())
        if c.tm:
            tm_options = ", ".join(f"{k}={v!r}" for k, v in c.tm_options.items())
            tm = f"`{c.tm.rpartition('.')[2]}({tm_options})`"
            adapted = ", ".join(x for x in (_ARGS[c.tm_args], _out_text(c.tm_out)) if x)
        else:
            tm, adapted = f"none: {c.tm_why}", ""
        lines.append(f"| `{c.id}` | `{c.cls}({options})` | {c.inputs} | {tm} | {adapted} |")
    return "\n".join(lines)


_ARGS = {
    "pt": "(preds, target)",
    "pt_long": "(preds, target as int64)",
    "pt_ids": "(preds, argmax of one-hot target)",
    "pt_flat": "(preds, target) flattened",
    "tp": "(target, preds)",
    "values": "(values)",
}


def _out_text(how):
    if how is None:
        return ""
    if how == "x100":
        return "result x 100"
    if how.startswith("mean["):
        return f"mean of classes {how[5:-1]} of the per-class result"
    return f"element {how[1:-1]} of the result"


def progress_line(key, stats, check, seconds):
    parts = [f"{k}={v.median * 1e6:.1f}us" if not isinstance(v, str) else f"{k}=ERROR" for k, v in stats.items()]
    return f"  {key['backend']:10s} {key['case']:27s} {key['size']:5s} {' '.join(parts)}  [{_check_text(check)}] {seconds:.1f}s"


def targets_markdown(doc):
    """The targets as a Markdown table: per target and backend, which cases
    meet it and which miss it (with the ratio), for the README."""
    lines = ["| target | backend | met | missed (ratio) |", "|---|---|---|---|"]
    for name, (met, missed) in targets(doc).items():
        for backend in sorted({b for b, _, _ in met + missed}):
            hits = sorted(c for b, c, _ in met if b == backend)
            misses = ", ".join(f"{c} {v:.2f}" for b, c, v in sorted(missed) if b == backend)
            lines.append(f"| {name} | {backend} | {len(hits)} | {misses or '-'} |")
    return "\n".join(lines)
