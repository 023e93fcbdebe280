"""Benchmarks (`make bench`): each module in BENCHMARKS measures one thing and
returns a dict of figures; __main__ merges them into build/bench.json.

A benchmark module has `run(args) -> dict` and must keep its traffic inside a
private network namespace (tools.netns) or on loopback, bounded in time.
"""
# Module names under tools.bench, run in this order.
BENCHMARKS = ["discovery", "memory", "boundaries", "mp_heap", "button_reaction"]
