"""The embedded model (the `local-model` extra): load time, speed, five product tasks and a grounded `ask`.

    python -m bench.embedded_model [--home DIR] [--max-tokens N] [--json FILE]

Everything goes through the real path: `ChatClient` -> litellm -> the `lakehouse-local` provider
-> the model assembled in `<LH_HOME>/models` (LH_HOME of the environment; assembled there on the
first run) and loaded once in this process. The five tasks are those of BENCHMARKS.md ("Embedded
instruction model"), each checked by a rule, greedy decoding. The grounded `ask` runs the mode
over a temporary lakehouse of eight job rows (wordllama embeddings) with `model: local_fast`.

Without the extra it prints why it skips and exits 0, so `make bench` passes where it is not
installed (CI never installs it).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lakehouse.llm import embedded

SOURCES = """[S1] The Lakeview warehouse in Joliet, IL employs 42 forklift operators; 30 of them hold an OSHA-10 card.
[S2] Harbor Logistics opened a second site in Gary, IN in March 2024 with 15 staff.
[S3] All Lakeview forklift operators work rotating 10-hour shifts, four days a week."""
GROUNDED = "Answer the question using ONLY the numbered sources below. Cite the source id in square brackets"
TASKS = {
    "cited_answer": f"{GROUNDED}, like [S1].\n\nSources:\n{SOURCES}\n\n"
    "Question: How many forklift operators at the Lakeview warehouse hold an OSHA-10 card?",
    "json_score": "Rate how well this candidate matches the job. Job: forklift operator, OSHA-10 required, "
    "Illinois. Candidate: 5 years driving forklifts in Joliet, IL; OSHA-10 certified in 2022.\n"
    'Reply with ONLY a JSON object matching this schema: {"score": number between 0 and 1, "why": string}. '
    "No other text.",
    "two_facts": "Extract exactly 2 facts from the paragraph below. Reply with ONLY a JSON list of 2 strings.\n\n"
    "Paragraph: Maria Lopez joined Harbor Logistics in 2019 as a dispatcher. In 2023 she was promoted to site "
    "manager of the Gary, Indiana warehouse, which handles about 1,200 pallets a day.",
    "not_in_sources": f"{GROUNDED}. If the sources do not contain the answer, reply exactly: not in the sources\n\n"
    f"Sources:\n{SOURCES}\n\nQuestion: What is the hourly wage of a Lakeview forklift operator?",
    "one_sentence": "Summarize the following in exactly one sentence.\n\nThe city council voted 7-2 on Tuesday to "
    "approve a new bus rapid transit line along Main Street. Construction is expected to begin next spring and "
    "last 18 months. Supporters say it will cut commute times by a quarter, while opponents worry about the loss "
    "of 200 parking spaces.",
}
_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


def _json(text: str) -> Any:
    """The reply as JSON, also inside a ``` fence (the output contracts of prompt nodes strip it too)."""
    fenced = _FENCE.match(text)
    try:
        return json.loads(fenced.group(1) if fenced else text)
    except ValueError:
        return None


def check(task: str, text: str) -> bool:
    low = text.lower()
    if task == "cited_answer":
        return "30" in text and "[S1]" in text
    if task == "json_score":
        value = _json(text)
        return (
            isinstance(value, dict)
            and isinstance(value.get("score"), int | float)
            and 0 <= value["score"] <= 1
            and isinstance(value.get("why"), str)
        )
    if task == "two_facts":
        value = _json(text)
        return isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) and v for v in value)
    if task == "not_in_sources":
        return "not in the sources" in low and "$" not in text
    if task == "one_sentence":
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]
        return len(sentences) == 1 and ("bus" in low or "transit" in low)
    raise KeyError(task)


JOBS = [
    ("J-101", "Forklift operator", "Joliet", "IL", "Drive sit-down forklifts in cold storage. OSHA-10 card required."),
    ("J-102", "Warehouse associate", "Gary", "IN", "Pick and pack orders, load trucks, no certification needed."),
    ("J-103", "CNC machinist", "Rockford", "IL", "Set up and run CNC lathes from blueprints; second shift."),
    ("J-104", "Forklift trainer", "Aurora", "IL", "Train forklift drivers; OSHA-10 and trainer card required."),
    ("J-105", "Delivery driver", "Peoria", "IL", "Class B CDL; deliver building supplies to job sites."),
    ("J-106", "Welder", "Hammond", "IN", "MIG and TIG welding of steel frames; AWS certification preferred."),
    ("J-107", "Reach truck operator", "Naperville", "IL", "Operate reach trucks in narrow aisles; OSHA-10 preferred."),
    ("J-108", "Dispatcher", "Gary", "IN", "Schedule the truck fleet and answer driver calls."),
]
ASK = "Which jobs in Illinois require or prefer an OSHA-10 card?"


def grounded_ask(max_tokens: int) -> dict[str, Any]:
    import pyarrow as pa

    from lakehouse.config import ModelsSettings, Settings
    from lakehouse.core import Lakehouse
    from modes.context import ModeContext
    from modes.invoke import invoke_mode

    with tempfile.TemporaryDirectory(prefix="bench-embedded-ask-") as home:
        lh = Lakehouse(Settings(home=Path(home), embed_model="wordllama", models=ModelsSettings(default="local_fast")))
        try:
            columns = ("job_id", "title", "city", "state", "description")
            rows = {c: [job[i] for job in JOBS] for i, c in enumerate(columns)}
            lh.tables.write_arrow("jobs", pa.table(rows), mode="overwrite")
            lh.corpora.build("jobs", "jobs", ["title", "description"], "job_id", ["city", "state"])
            started = time.perf_counter()
            out = invoke_mode("ask", {"question": ASK, "corpora": ["jobs"]}, ModeContext(lakehouse=lh))
            seconds = time.perf_counter() - started
        finally:
            lh.close()
    cited = [h["id"] for h in out["cited_hits"]]
    passed = bool(out["grounded"]) and set(cited) <= {"J-101", "J-104", "J-107"} and bool(cited)
    return {
        "seconds": round(seconds, 1),
        "hits": out["hit_ids"],
        "answer": out["answer"],
        "citations": out["citations"],
        "flagged": out["flagged"],
        "usage": out["usage"],
        "pass": passed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=128, help="per task (default 128)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], help="load the weights in this dtype")
    args = parser.parse_args()
    if not embedded.installed():
        print(f"skipped: the embedded model is not installed ({embedded.EXTRA_HINT})")
        return 0

    from lakehouse.config import ModelsSettings
    from lakehouse.llm import embedded_provider

    logging.getLogger("LiteLLM").setLevel(logging.WARNING)  # its per-call INFO lines drown the results
    from lakehouse.llm.chat import ChatClient

    if args.dtype:
        embedded_provider.DTYPE = args.dtype
    chat = ChatClient(ModelsSettings())
    results: dict[str, Any] = {
        "model": chat.resolve(embedded.TIER).model,
        "dtype": embedded_provider.DTYPE,
        "tasks": {},
    }
    started = time.perf_counter()
    target = embedded.assemble(embedded.default_models_dir())
    results["assemble_s"] = round(time.perf_counter() - started, 1)
    print(f"model file {target} ({target.stat().st_size / 1e9:.2f} GB), ready in {results['assemble_s']} s", flush=True)

    started, cpu = time.perf_counter(), time.process_time()
    first = chat.complete([{"role": "user", "content": "Reply with the single word OK."}], embedded.TIER, max_tokens=4)
    results["first_call_s"] = round(time.perf_counter() - started, 1)
    # CPU seconds (all threads) tell the cost apart from the wait on a shared machine
    results["first_call_cpu_s"] = round(time.process_time() - cpu, 1)
    results["load_s"] = round(embedded_provider._LOADED[target].load_seconds, 1)
    print(
        f"load {results['load_s']} s; first call {results['first_call_s']} s ({results['first_call_cpu_s']} CPU s) "
        f"-> {first.content!r}",
        flush=True,
    )

    tokens = seconds = cpu_seconds = 0.0
    for task, prompt in TASKS.items():
        started, cpu = time.perf_counter(), time.process_time()
        messages = [{"role": "user", "content": prompt}]
        if task == "one_sentence":  # the streaming path, as the OpenAI-compatible endpoint uses it
            stream = chat.stream(messages, embedded.TIER, max_tokens=args.max_tokens, temperature=0)
            pieces = list(stream)
            text, usage, finish = stream.text, stream.usage, stream.finish_reason
        else:
            result = chat.complete(messages, embedded.TIER, max_tokens=args.max_tokens, temperature=0)
            text, usage, finish, pieces = result.content, result.usage, result.finish_reason, []
        took, took_cpu = time.perf_counter() - started, time.process_time() - cpu
        done = usage.get("completion_tokens", 0)
        tokens, seconds, cpu_seconds = tokens + done, seconds + took, cpu_seconds + took_cpu
        passed = check(task, text)
        results["tasks"][task] = {
            "pass": passed,
            "seconds": round(took, 1),
            "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": done,
            "tok_per_s": round(done / took, 2) if took else None,
            "cpu_seconds": round(took_cpu, 1),
            "finish_reason": finish,
            "streamed_pieces": len(pieces) or None,
            "output": text,
        }
        print(
            f"--- {task}: {'PASS' if passed else 'FAIL'}  {done} tokens in {took:.1f} s ({done / took:.1f} tok/s; "
            f"{took_cpu:.1f} CPU s)"
        )
        print(text, flush=True)

    results["ask"] = grounded_ask(args.max_tokens)
    results["tok_per_s"] = round(tokens / seconds, 2) if seconds else None
    results["tok_per_cpu_s"] = round(tokens / cpu_seconds, 2) if cpu_seconds else None
    results["load_average"] = [round(x, 1) for x in os.getloadavg()]
    results["max_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024, 2)
    tasks_passed = sum(t["pass"] for t in results["tasks"].values())
    ask = results["ask"]
    print(f"--- ask: {'PASS' if ask['pass'] else 'FAIL'} in {ask['seconds']} s, hits {ask['hits']}")
    print(f"{ask['answer']}\ncitations {ask['citations']} flagged {ask['flagged']}")
    print(
        f"\n{results['model']}: load {results['load_s']} s, {tasks_passed}/{len(TASKS)} tasks, ask "
        f"{'pass' if ask['pass'] else 'fail'}, {results['tok_per_s']} tok/s overall ({results['tok_per_cpu_s']} per "
        f"CPU s), max RSS {results['max_rss_gb']} GB, load average {results['load_average']}"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
