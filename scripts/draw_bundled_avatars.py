"""Draw the bundled characters' avatars into personalities/avatars/ (original art, Pillow only).

Run from the repository root: ``.venv/bin/python scripts/draw_bundled_avatars.py``.
The PNGs are committed; run this again only to change the art.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from personalities_app.avatar_art import draw_avatar  # noqa: E402

AVATARS = {
    "ottoline": dict(
        initials="OB", top=(22, 48, 92), bottom=(12, 110, 120), accent=(240, 196, 90), motif="compass"
    ),
    "hemlock": dict(
        initials="HV", top=(30, 70, 45), bottom=(86, 120, 60), accent=(236, 228, 196), motif="leaf"
    ),
    "pip": dict(initials="P", top=(250, 140, 40), bottom=(200, 80, 20), accent=(40, 40, 48), motif="gear"),
    "marigold": dict(
        initials="MF", top=(250, 205, 90), bottom=(226, 130, 90), accent=(120, 60, 30), motif="sun"
    ),
    "vesper": dict(
        initials="V", top=(28, 24, 80), bottom=(96, 60, 140), accent=(220, 224, 240), motif="moon"
    ),
    "dex": dict(initials="DC", top=(40, 44, 52), bottom=(84, 94, 108), accent=(200, 50, 50), motif="rain"),
}


def main() -> None:
    folder = ROOT / "personalities" / "avatars"
    folder.mkdir(parents=True, exist_ok=True)
    for slug, params in AVATARS.items():
        content = draw_avatar(**params)  # type: ignore[arg-type]
        (folder / f"{slug}.png").write_bytes(content)
        print(f"{slug}.png: {len(content) // 1024} KB")


if __name__ == "__main__":
    main()
