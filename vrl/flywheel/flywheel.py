"""`Flywheel`: N rounds of create -> check -> repair -> extend -> merge pools, resumable per round.

Round r writes `<work>/rounds/round_<r>/` (items.jsonl, images/, knowledge_points.jsonl,
tools.jsonl, stats.json) into a temporary directory renamed into place when the round is
complete, so a resumed run restarts at the first missing round with the pools of the last
finished one and never duplicates an item. Everything random is seeded by (seed, round).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .dedup import Deduplicator
from .pools import load_pool, read_pool, write_pool
from .protocol import REJECT_DUPLICATE, REJECT_UNPARSEABLE, Candidate, Combination, Verdict

log = logging.getLogger("vrl")


def round_dirs(work_dir: Path) -> list[Path]:
    """Finished rounds, in order."""
    return sorted((Path(work_dir) / "rounds").glob("round_[0-9][0-9][0-9]"))


class Flywheel:
    """The data evolution flywheel (V-Thinker): one strategy = a creator, checker, repairer, extender.

    Args:
        creator: `ProceduralCreator` or `ModelCreator`.
        checker: `RuleChecker` or `ModelChecker`.
        repairer: `RuleRepairer`, `ModelRepairer`, or null (no repairs).
        extender: `ProceduralExtender` or null (no harder variants).
        dedup: `Deduplicator` for proposed knowledge points and tools (null = exact text only).
        knowledge_points: seed pool K0: a jsonl path, an HF dataset id/dir, or null = built-in seeds.
        tools: seed pool T0, likewise.
        combinations_per_round: combinations sampled per round (capped by the pool size).
        knowledge_points_per_combination: knowledge points in one combination.
        tools_per_combination: tools in one combination.
        extend_fraction: share of accepted items the extender builds on each round.
        evolve: merge accepted items' proposals into the pools (false = seed pools forever).
        workers: candidates checked in parallel (set to the sandbox's worker count).
    """

    def __init__(
        self,
        creator: Any,
        checker: Any,
        repairer: Any = None,
        extender: Any = None,
        dedup: Deduplicator | None = None,
        knowledge_points: str | None = None,
        tools: str | None = None,
        combinations_per_round: int = 64,
        knowledge_points_per_combination: int = 2,
        tools_per_combination: int = 2,
        extend_fraction: float = 0.25,
        evolve: bool = True,
        workers: int = 2,
    ) -> None:
        self.creator, self.checker, self.repairer, self.extender = creator, checker, repairer, extender
        self.dedup = dedup or Deduplicator(lexical_threshold=1.01)
        self.seeds = {"knowledge_points": knowledge_points, "tools": tools}
        self.combinations_per_round = combinations_per_round
        self.kps_per_combo, self.tools_per_combo = knowledge_points_per_combination, tools_per_combination
        self.extend_fraction, self.evolve, self.workers = extend_fraction, evolve, max(1, workers)

    # -- the loop ---------------------------------------------------------------------------
    def run(self, work_dir: Path, sandbox: Any, rounds: int, seed: int = 0) -> list[dict[str, Any]]:
        """Run rounds up to `rounds` (finished ones are kept) and return every round's stats."""
        work_dir = Path(work_dir)
        for stale in work_dir.glob("round_*.tmp-*"):  # a round interrupted mid-way: redo it
            shutil.rmtree(stale, ignore_errors=True)
        done = round_dirs(work_dir)
        if done:
            kps = read_pool(done[-1] / "knowledge_points.jsonl", "knowledge_points")
            tools = read_pool(done[-1] / "tools.jsonl", "tools")
            log.info("flywheel: resuming after %d finished rounds", len(done))
        else:
            kps, tools = (
                load_pool(self.seeds["knowledge_points"], "knowledge_points"),
                load_pool(self.seeds["tools"], "tools"),
            )
            write_pool(kps, work_dir / "seeds" / "knowledge_points.jsonl")
            write_pool(tools, work_dir / "seeds" / "tools.jsonl")
        for chat in (getattr(x, "chat", None) for x in (self.creator, self.checker, self.repairer)):
            if chat is not None and hasattr(chat, "setup"):
                chat.setup(work_dir)
        seen = {
            json.loads(line)["key"] for d in done for line in (d / "items.jsonl").read_text().splitlines()
        }
        for r in range(len(done), rounds):
            kps, tools = self._round(r, kps, tools, seen, work_dir, sandbox, seed)
        return [json.loads((d / "stats.json").read_text()) for d in round_dirs(work_dir)[:rounds]]

    def _round(self, r: int, kps: list, tools: list, seen: set, work_dir: Path, sandbox: Any, seed: int):
        start = time.perf_counter()
        rng = random.Random(f"{seed}/round/{r}")
        combos = [
            Combination(
                rng.sample(kps, min(self.kps_per_combo, len(kps))),
                rng.sample(tools, min(self.tools_per_combo, len(tools))),
            )
            for _ in range(min(self.combinations_per_round, max(len(kps) * self.kps_per_combo, 1)))
        ]
        scratch = Path(tempfile.mkdtemp(prefix=f"round_{r:03d}.tmp-", dir=work_dir))
        candidates, unparseable = self.creator.create(combos, seed, r, work_dir)
        rejected: Counter[str] = Counter({REJECT_UNPARSEABLE: unparseable} if unparseable else {})
        accepted = self._judge(candidates, sandbox, scratch, seen, rejected)
        base, variants = [a for a in accepted if not a[0].extension], []
        if self.extender is not None and base:
            picks = rng.sample(base, max(1, round(self.extend_fraction * len(base))))
            variants = [v for c, _ in picks for v in self.extender.extend(c, seed, tools)]
            accepted += self._judge(variants, sandbox, scratch, seen, rejected)
        new_kps, new_tools, dropped = (
            self._merge(kps, tools, [c for c, _ in accepted]) if self.evolve else ([], [], 0)
        )
        kps, tools = kps + new_kps, tools + new_tools
        seconds = time.perf_counter() - start
        stats = {
            "round": r,
            "knowledge_points": len(kps),
            "tools": len(tools),
            "domains": len({k.domain for k in kps}),
            "new_knowledge_points": len(new_kps),
            "new_tools": len(new_tools),
            "proposals_deduplicated": dropped,
            "candidates": len(candidates) + unparseable,
            "extension_candidates": len(variants),
            "accepted": len(accepted),
            "repaired": sum(c.repaired for c, _ in accepted),
            "extended": sum(bool(c.extension) for c, _ in accepted),
            "rejected": dict(sorted(rejected.items())),
            "difficulty": dict(sorted(Counter(str(c.difficulty) for c, _ in accepted).items())),
            "seconds": round(seconds, 3),
            "items_per_s": round(len(accepted) / seconds, 2) if seconds > 0 else 0.0,
            "dedup": self.dedup.method,
        }
        final = self._write_round(r, accepted, kps, tools, stats, scratch, work_dir)
        # Continue from the files just written, exactly as a resumed run would.
        kps, tools = (
            read_pool(final / "knowledge_points.jsonl", "knowledge_points"),
            read_pool(final / "tools.jsonl", "tools"),
        )
        log.info(
            "flywheel round %d: %d accepted of %d, pools %d kp / %d tools",
            r,
            len(accepted),
            stats["candidates"],
            len(kps),
            len(tools),
        )
        return kps, tools

    def _judge(
        self, candidates: list[Candidate], sandbox: Any, scratch: Path, seen: set, rejected: Counter
    ) -> list:
        """(candidate, verdict) of accepted ones, repaired where possible; rejects counted by first reason."""
        from tqdm.auto import tqdm

        def judge(candidate: Candidate) -> tuple[Candidate, Verdict]:
            verdict = self.checker.check(candidate, sandbox, scratch)
            if not verdict.ok and verdict.text_only and self.repairer is not None:
                fixed = self.repairer.repair(candidate, verdict)
                if fixed is not None:
                    second = self.checker.check(fixed, sandbox, scratch)
                    if second.ok:
                        return fixed, second
            return candidate, verdict

        accepted = []
        with ThreadPoolExecutor(self.workers) as pool:
            results = pool.map(judge, candidates)
            for candidate, verdict in tqdm(
                results, total=len(candidates), desc="flywheel check", disable=None, leave=False
            ):
                if not verdict.ok:
                    rejected[verdict.reasons[0]] += 1
                    continue
                key = item_key(candidate, verdict)
                if key in seen:
                    rejected[REJECT_DUPLICATE] += 1
                    continue
                seen.add(key)
                accepted.append((candidate, verdict))
        return accepted

    def _merge(self, kps: list, tools: list, accepted: list[Candidate]) -> tuple[list, list, int]:
        """Accepted items' proposals not already in the pools (near-duplicates by the de-duplicator)."""
        out, dropped = [], 0
        for pool, attr in ((kps, "proposed_knowledge_points"), (tools, "proposed_tools")):
            proposals = [e for c in accepted for e in getattr(c, attr)]
            ids = {e.id for e in pool}
            unique = [e for e in proposals if e.id not in ids]
            keep = (
                self.dedup.filter([e.description for e in pool], [e.description for e in unique])
                if unique
                else []
            )
            out.append([unique[i] for i in keep])
            dropped += len(proposals) - len(keep)
        return out[0], out[1], dropped

    def _write_round(self, r, accepted, kps, tools, stats, scratch: Path, work_dir: Path) -> Path:
        images = scratch / "images"
        images.mkdir(parents=True, exist_ok=True)
        lines = []
        for candidate, verdict in accepted:
            stem = candidate.id.replace("/", "_")
            (images / f"{stem}.png").write_bytes(verdict.image)
            steps = []
            for k, (step, data) in enumerate(zip(candidate.trajectory, verdict.step_images)):
                (images / f"{stem}_step{k + 1}.png").write_bytes(data)
                steps.append({**asdict(step), "image": f"images/{stem}_step{k + 1}.png"})
            lines.append(
                json.dumps(item_record(candidate, verdict, f"images/{stem}.png", steps), sort_keys=True)
            )
        (scratch / "items.jsonl").write_text("".join(line + "\n" for line in lines))
        write_pool(kps, scratch / "knowledge_points.jsonl")
        write_pool(tools, scratch / "tools.jsonl")
        (scratch / "stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True))
        final = work_dir / "rounds" / f"round_{r:03d}"
        final.parent.mkdir(parents=True, exist_ok=True)
        for leftover in scratch.iterdir():  # sandbox copies etc. are not part of the round
            if leftover.name not in {
                "images",
                "items.jsonl",
                "knowledge_points.jsonl",
                "tools.jsonl",
                "stats.json",
            }:
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        os.replace(scratch, final)
        return final


def item_key(candidate: Candidate, verdict: Verdict) -> str:
    """Identity of an item: question, rendered image and trajectory (a longer trajectory is a new item)."""
    digest = hashlib.sha256(candidate.question.strip().lower().encode() + b"\0" + (verdict.image or b""))
    for step in candidate.trajectory:
        digest.update(b"\0" + step.code.encode())
    return digest.hexdigest()


def item_record(candidate: Candidate, verdict: Verdict, image: str, steps: list[dict]) -> dict[str, Any]:
    """One line of a round's items.jsonl: the item, its code and trajectory, and its provenance."""
    return {
        "id": f"flywheel/{candidate.id}",
        "key": item_key(candidate, verdict),
        "question": candidate.question,
        "answer": candidate.answer,
        "answer_type": candidate.answer_type,
        "choices": candidate.choices,
        "domain": candidate.domain,
        "difficulty": candidate.difficulty,
        "image": image,
        "code": candidate.image_code,
        "trajectory": steps,
        "facts": verdict.facts,
        "provenance": {
            "round": candidate.round,
            "creator": candidate.creator,
            "parents": candidate.parents,
            "knowledge_points": candidate.knowledge_points,
            "tools": candidate.tools,
            "checks": verdict.checks,
            "repaired": candidate.repaired,
            "extension": candidate.extension,
            "spec": candidate.spec.get("template", ""),
        },
    }
