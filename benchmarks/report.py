"""Ratio tables and the target check, from a results document.

Ratios are medians over medians of variants timed interleaved in one process
(Keras ones in the Keras child process, against lossbridge timed there too):
below 1 means the first-named variant is faster.
"""

from __future__ import annotations

import statistics

TARGETS = {
    "object_small": 1.15,  # LB Loss object / hand-written, small, eager: at most
    "object_large": 1.10,  # same, large inputs
    "keras_small": 3.0,  # Keras object / LB object, small: at least
    "keras_large": 1.0,  # Keras object / LB object, large: at least (never slower)
    "import_ms": 30.0,  # import lossbridge - import numpy: at most
}


def index(rows):
    table = {}
    for row in rows:
        if "median" in row:
            table[(row["backend"], row["case"], row["size"], row["variant"])] = row
    return table


def ratio(table, key, top, bottom):
    backend, case, size = key
    a, b = table.get((backend, case, size, top)), table.get((backend, case, size, bottom))
    if a is None or b is None or not b["median"]:
        return None
    return a["median"] / b["median"]


def loss_ratios(rows):
    """One dict per (backend, case, size) with the headline ratios."""
    table = index(rows)
    keys = sorted({(b, c, s) for (b, c, s, _) in table}, key=lambda k: (k[0], k[2] != "small", k[1]))
    out = []
    for key in keys:
        lb_obj = table.get((*key, "lb_obj"))
        if lb_obj is None and table.get((*key, "lb_metric")) is not None:
            continue
        jit_base = "native_jit" if (*key, "native_jit") in table else "hand_jit"
        out.append(
            {
                "backend": key[0],
                "case": key[1],
                "size": key[2],
                "lb_obj_us": lb_obj["median"] * 1e6 if lb_obj else None,
                "obj_over_hand": ratio(table, key, "lb_obj", "hand_reduced"),
                "fn_over_hand": ratio(table, key, "lb_fn", "hand"),
                "obj_over_native": ratio(table, key, "lb_obj", "native"),
                "keras_over_obj": ratio(table, key, "keras_obj", "lb_obj@keras"),
                "jit_over_native_jit": ratio(table, key, "lb_jit", jit_base),
                "jit_base": jit_base.replace("_jit", ""),
                "compile_speedup": ratio(table, key, "lb_obj", "lb_compile"),
            }
        )
    return out


def metric_ratios(rows):
    table = index(rows)
    keys = sorted({(b, c, s) for (b, c, s, v) in table if v.startswith("lb_metric")})
    return [
        {
            "backend": k[0],
            "case": k[1],
            "size": k[2],
            "lb_metric_us": table[(*k, "lb_metric")]["median"] * 1e6 if (*k, "lb_metric") in table else None,
            "hand_over_lb": ratio(table, k, "hand", "lb_metric"),
            "keras_over_lb": ratio(table, k, "keras_metric", "lb_metric@keras"),
        }
        for k in keys
    ]


def _fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def loss_table(rows) -> str:
    lines = [
        "LB obj/hand: Loss object (default reduction) / hand-written formula + mean;  "
        "LB fn/hand: loss function / per-sample formula;",
        "Keras/LB: keras.losses object / LB object (same process);  jit LB/base: compiled LB object / compiled "
        "native (or hand-written, marked h);  compile x: eager LB obj / LB obj with compile=True",
        "",
        f"{'backend':10s} {'loss':12s} {'size':5s} {'LB obj us':>10s} {'obj/hand':>8s} {'fn/hand':>8s} "
        f"{'obj/native':>10s} {'Keras/LB':>8s} {'jit LB/base':>11s} {'compile x':>9s}",
    ]
    for r in loss_ratios(rows):
        jit = _fmt(r["jit_over_native_jit"]) + ("h" if r["jit_base"] == "hand" and r["jit_over_native_jit"] else "")
        lines.append(
            f"{r['backend']:10s} {r['case']:12s} {r['size']:5s} {_fmt(r['lb_obj_us'], 1):>10s} "
            f"{_fmt(r['obj_over_hand']):>8s} {_fmt(r['fn_over_hand']):>8s} {_fmt(r['obj_over_native']):>10s} "
            f"{_fmt(r['keras_over_obj']):>8s} {jit:>11s} {_fmt(r['compile_speedup']):>9s}"
        )
    return "\n".join(lines)


def metric_table(rows) -> str:
    ratios = metric_ratios(rows)
    if not ratios:
        return ""
    lines = [f"{'backend':10s} {'metric':10s} {'size':5s} {'LB us':>10s} {'hand/LB':>8s} {'Keras/LB':>8s}"]
    for r in ratios:
        lines.append(
            f"{r['backend']:10s} {r['case']:10s} {r['size']:5s} {_fmt(r['lb_metric_us'], 1):>10s} "
            f"{_fmt(r['hand_over_lb']):>8s} {_fmt(r['keras_over_lb']):>8s}"
        )
    return "\n".join(lines)


def targets(doc) -> list[dict]:
    """Each target with the measured number and whether it is met."""
    ratios = loss_ratios(doc["rows"])
    checks = []

    def collect(field, size):
        by_backend = {}
        for r in ratios:
            if r["size"] == size and r[field] is not None:
                by_backend.setdefault(r["backend"], []).append((r[field], r["case"]))
        return by_backend

    for size, limit in (("small", TARGETS["object_small"]), ("large", TARGETS["object_large"])):
        for backend, values in collect("obj_over_hand", size).items():
            worst = max(values)
            checks.append(
                {
                    "target": f"LB object / hand-written <= {limit} ({size}, eager)",
                    "backend": backend,
                    "median": statistics.median(v for v, _ in values),
                    "worst": worst[0],
                    "worst_case": worst[1],
                    "met": worst[0] <= limit,
                    "met_by_median": statistics.median(v for v, _ in values) <= limit,
                }
            )
    for size, limit in (("small", TARGETS["keras_small"]), ("large", TARGETS["keras_large"])):
        for backend, values in collect("keras_over_obj", size).items():
            worst = min(values)
            checks.append(
                {
                    "target": f"Keras object / LB object >= {limit} ({size})",
                    "backend": backend,
                    "median": statistics.median(v for v, _ in values),
                    "worst": worst[0],
                    "worst_case": worst[1],
                    "met": worst[0] >= limit,
                    "met_by_median": statistics.median(v for v, _ in values) >= limit,
                }
            )
    imp = doc.get("import_time")
    if imp:
        extra_ms = imp["lossbridge_over_numpy_s"] * 1e3
        checks.append(
            {
                "target": f"import lossbridge - import numpy <= {TARGETS['import_ms']} ms, no framework",
                "backend": "-",
                "median": extra_ms,
                "worst": extra_ms,
                "worst_case": ",".join(imp["frameworks_loaded_by_import"]) or "no framework loaded",
                "met": extra_ms <= TARGETS["import_ms"] and not imp["frameworks_loaded_by_import"],
                "met_by_median": extra_ms <= TARGETS["import_ms"],
            }
        )
    return checks


def targets_table(doc) -> str:
    lines = [f"{'target':58s} {'backend':10s} {'median':>7s} {'worst':>7s}  {'met':4s} worst case"]
    for c in targets(doc):
        lines.append(
            f"{c['target']:58s} {c['backend']:10s} {c['median']:7.2f} {c['worst']:7.2f}  "
            f"{'yes' if c['met'] else ('med' if c['met_by_median'] else 'NO'):4s} {c['worst_case']}"
        )
    lines.append("(met: yes = every case; med = the median case only; NO = not even the median)")
    return "\n".join(lines)


def once_table(doc) -> str:
    lines = []
    imp = doc.get("import_time")
    if imp:
        m = imp["median_s"]
        lines.append(
            f"import time (median of {imp['runs']} fresh interpreters): python {m['python'] * 1e3:.1f} ms, "
            f"import numpy {m['numpy'] * 1e3:.1f} ms, import lossbridge {m['lossbridge'] * 1e3:.1f} ms "
            f"-> lossbridge adds {imp['lossbridge_over_numpy_s'] * 1e3:.1f} ms over numpy; frameworks loaded: "
            f"{imp['frameworks_loaded_by_import'] or 'none'}"
        )
    for backend, fc in (doc.get("first_call") or {}).items():
        if "error" in fc:
            lines.append(f"first call {backend}: error {fc['error'][-200:]}")
            continue
        lines.append(
            f"first call {backend:10s}: framework import {fc['framework_import_s'] * 1e3:7.1f} ms, "
            f"lossbridge import {fc['lossbridge_import_s'] * 1e3:6.1f} ms, first MSE call "
            f"{fc['function_first_s'] * 1e3:6.2f} ms (second {fc['function_second_s'] * 1e6:6.1f} us), first "
            f"Loss object call {fc.get('object_first_s', float('nan')) * 1e3:6.2f} ms, first CCE call "
            f"{fc['other_loss_first_s'] * 1e3:6.2f} ms"
        )
    return "\n".join(lines)


def compile_table(doc) -> str:
    """Cold compile cost and per-call compiled vs eager, per backend and size."""
    rows = [r for r in doc["rows"] if r.get("group") == "compiled" and r["variant"] == "lb_compile"]
    if not rows:
        return ""
    table = index(doc["rows"])
    lines = [
        f"{'backend':10s} {'loss':12s} {'size':5s} {'cold ms':>9s} {'eager us':>10s} {'compiled us':>11s} {'speedup':>7s}"
    ]
    for r in sorted(rows, key=lambda r: (r["backend"], r["size"] != "small", r["case"])):
        eager = table.get((r["backend"], r["case"], r["size"], "lb_obj"))
        compiled = r.get("median")
        lines.append(
            f"{r['backend']:10s} {r['case']:12s} {r['size']:5s} {_fmt(r.get('first_call_s', 0) * 1e3, 1):>9s} "
            f"{_fmt(eager['median'] * 1e6 if eager else None, 1):>10s} {_fmt(compiled * 1e6 if compiled else None, 1):>11s} "
            f"{_fmt(eager['median'] / compiled if eager and compiled else None):>7s}"
        )
    return "\n".join(lines)


def full_report(doc) -> str:
    parts = [
        "== machine ==",
        f"{doc['machine']['cpu']}, {doc['machine']['usable_cores']} cores, load at start "
        f"{doc['machine']['load_average_at_start']}, GPUs: {doc['machine']['gpus'] or 'none'}; "
        + ", ".join(f"{k} {v}" for k, v in doc["machine"]["versions"].items() if v),
        "",
        "== losses: ratios ==",
        loss_table(doc["rows"]),
    ]
    metrics = metric_table(doc["rows"])
    if metrics:
        parts += ["", "== metrics (update_state + result per call) ==", metrics]
    compiled = compile_table(doc)
    if compiled:
        parts += ["", "== compile=True: cold compile and per-call times ==", compiled]
    once = once_table(doc)
    if once:
        parts += ["", "== once per process ==", once]
    parts += ["", "== targets ==", targets_table(doc)]
    if doc.get("notes"):
        parts += ["", "== notes ==", *doc["notes"]]
    return "\n".join(parts)
