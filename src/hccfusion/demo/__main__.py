"""``python -m hccfusion.demo --out DIR --seed N --scale tiny|default|paper [--no-images]``."""

from __future__ import annotations

import argparse
import json

from . import SCALES, generate_demo


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hccfusion.demo", description=__doc__)
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", choices=sorted(SCALES), default="default")
    ap.add_argument("--no-images", action="store_true", help="write the tables only")
    ap.add_argument("--workers", type=int, default=None, help="rendering processes")
    a = ap.parse_args(argv)
    summary = generate_demo(a.out, seed=a.seed, scale=a.scale, images=not a.no_images,
                            workers=a.workers)
    print(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
