"""The per-round flywheel report: a markdown table and a PNG plot of growth and acceptance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLUMNS = (
    ("round", "round"),
    ("knowledge_points", "knowledge points"),
    ("tools", "tools"),
    ("domains", "domains"),
    ("candidates", "candidates"),
    ("accepted", "accepted"),
    ("repaired", "repaired"),
    ("extended", "extended"),
    ("rejected", "rejected"),
    ("acceptance", "accept %"),
    ("items_per_s", "items/s"),
)


def rounds_table(stats: list[dict[str, Any]]) -> str:
    """Markdown: one row per round, then rejections by reason and the difficulty histogram."""
    lines = ["| " + " | ".join(t for _, t in COLUMNS) + " |", "|" + "---:|" * len(COLUMNS)]
    for s in stats:
        row = {**s, "rejected": sum(s["rejected"].values())}
        row["acceptance"] = f"{100 * s['accepted'] / max(1, s['candidates'] + s['extension_candidates']):.1f}"
        lines.append("| " + " | ".join(str(row[k]) for k, _ in COLUMNS) + " |")
    reasons = sorted({r for s in stats for r in s["rejected"]})
    lines += _per_round_table("Rejected by reason:", stats, "rejected", reasons)
    levels = sorted({d for s in stats for d in s["difficulty"]}, key=int)
    lines += _per_round_table("Accepted items by difficulty:", stats, "difficulty", levels)
    return "\n".join(lines)


def write_report(stats: list[dict[str, Any]], out_dir: Path, seed_pools: tuple[int, int]) -> Path:
    """`report.md` + `growth.png` in `out_dir`; returns the markdown path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    rounds = [s["round"] for s in stats]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    axes[0].plot(
        [-1, *rounds],
        [seed_pools[0], *[s["knowledge_points"] for s in stats]],
        "o-",
        label="knowledge points",
    )
    axes[0].plot([-1, *rounds], [seed_pools[1], *[s["tools"] for s in stats]], "s-", label="tools")
    cumulative = [sum(s["accepted"] for s in stats[: i + 1]) for i in range(len(stats))]
    axes[0].plot(rounds, cumulative, "^-", label="accepted items (cumulative)")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("round (-1 = seeds)")
    axes[0].set_title("pool and dataset growth")
    axes[0].legend(fontsize=8)
    axes[1].bar(rounds, [s["accepted"] for s in stats], label="accepted")
    axes[1].bar(
        rounds,
        [sum(s["rejected"].values()) for s in stats],
        bottom=[s["accepted"] for s in stats],
        label="rejected",
    )
    axes[1].set_xlabel("round")
    axes[1].set_title("candidates per round")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "growth.png", dpi=120)
    plt.close(fig)
    total = sum(s["accepted"] for s in stats)
    text = (
        f"# Flywheel report\n\nSeeds: {seed_pools[0]} knowledge points, {seed_pools[1]} tools. "
        f"{len(stats)} rounds, {total} accepted items. Dedup: {stats[-1]['dedup'] if stats else '-'}.\n\n"
        + rounds_table(stats)
        + "\n\n![growth](growth.png)\n"
    )
    (out_dir / "report.md").write_text(text)
    return out_dir / "report.md"


def _per_round_table(title: str, stats: list[dict[str, Any]], field: str, columns: list[str]) -> list[str]:
    """Markdown lines of a round x column table of the counts in `stats[i][field]`; none if no columns."""
    if not columns:
        return []
    header = ["", title, "", "| round | " + " | ".join(columns) + " |", "|" + "---:|" * (len(columns) + 1)]
    return header + [
        f"| {s['round']} | " + " | ".join(str(s[field].get(c, 0)) for c in columns) + " |" for s in stats
    ]
