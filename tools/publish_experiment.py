"""Copy an experiment's measured report into the docs: docs/experiments/NAME.md + docs/experiments/img/NAME.png.

    .venv/bin/python tools/publish_experiment.py experiments/degradation-quick degradation

The report's figure link is rewritten to the copied PNG, and paths beside the repository to ``../``
(``/home/me/shared/data/...`` -> ``../shared/data/...``); the run folders stay where they are. Add
below the report, by hand, where the quick result does not reproduce the lecture's claim and why.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def publish(out: Path, name: str) -> Path:
    report, figure = out / "report.md", out / "figure.png"
    if not report.is_file() or not figure.is_file():
        raise SystemExit(f"{out} holds no report.md and figure.png: run `cnnlab experiment run` to the end first")
    plan = json.loads((out / "plan.json").read_text())
    if plan.get("overrides") or any(v is not None for v in plan.get("subset", {}).values()):
        raise SystemExit(f"{out} was run with --set / --train-per-class changes: publish only the table's budgets")
    docs = ROOT / "docs" / "experiments"
    (docs / "img").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(figure, docs / "img" / f"{name}.png")
    text = report.read_text().replace("](figure.png)", f"](img/{name}.png)")
    # paths beside the repository read as the README writes them (../shared/data/...), not as this machine's
    if ROOT.parent != Path(ROOT.anchor):
        text = text.replace(f"{ROOT.parent}/", "../")
    page = docs / f"{name}.md"
    page.write_text(text)
    return page


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(f"wrote {publish(Path(sys.argv[1]), sys.argv[2])}")
