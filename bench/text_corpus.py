"""The text benchmark's corpus: Debian package descriptions labelled by their archive section.

    .venv/bin/python bench/text_corpus.py [OUT.csv]      (default: bench/results/debian_sections.csv)

Source: apt's package lists as `apt-cache dumpavail` prints them (on this machine image the Debian bookworm
`main` list under /var/lib/apt/lists, 63,436 packages; no network). The list carries each package's one-line
synopsis (`Description:`; the long descriptions live in Translation files the image does not have), so the texts
are short (about 6 words), as a catalogue search box or a ticket title is.

Four sections about what a program is for, each with more than 400 distinct synopses: games, graphics, sound
and science. Sections named after a packaging language (python, perl, rust, haskell...) are left out because a
single word gives them away; libs / libdevel / doc because their synopses are about the package kind. Texts
are deduplicated case-insensitively across the whole list first (a -dev and a -doc package often share a
synopsis, which would put one text in two splits); 400 per section are drawn with a fixed seed, in a fixed
order, so the same apt list always gives the same file (its sha256 is printed and recorded by text_models.py).
"""

from __future__ import annotations

import csv
import hashlib
import random
import subprocess
import sys
from pathlib import Path

SECTIONS = ("games", "graphics", "sound", "science")
PER_SECTION = 400
SEED = 0
DEFAULT_OUT = Path(__file__).parent / "results" / "debian_sections.csv"


def package_records() -> list[dict[str, str]]:
    """Every package record apt knows (its top-level fields), or an error saying how to get the lists."""
    try:
        text = subprocess.run(
            ["apt-cache", "dumpavail"], capture_output=True, text=True, check=True, timeout=300
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(
            f"apt-cache dumpavail failed ({exc}); this corpus needs a Debian/Ubuntu apt list"
        ) from None
    records = []
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line[:1] not in (" ", "\t") and ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if fields.get("Section") and fields.get("Description"):
            records.append(fields)
    return records


def make_rows(sections=SECTIONS, per_section: int = PER_SECTION, seed: int = SEED) -> list[tuple[str, str]]:
    """(text, section) rows: `per_section` distinct synopses per section, shuffled with `seed`."""
    by_section: dict[str, list[str]] = {s: [] for s in sections}
    seen: set[str] = set()
    for rec in sorted(package_records(), key=lambda r: r.get("Package", "")):
        text, section = rec["Description"], rec["Section"].split("/")[-1]
        if text.lower() in seen:
            continue
        seen.add(text.lower())
        if section in by_section:
            by_section[section].append(text)
    rng = random.Random(seed)
    rows = []
    for section in sections:
        texts = by_section[section]
        if len(texts) < per_section:
            raise SystemExit(
                f"apt's lists have {len(texts)} distinct '{section}' synopses, fewer than {per_section}; "
                "run apt-get update on a Debian bookworm (or newer) machine"
            )
        rows += [(t, section) for t in rng.sample(texts, per_section)]
    rng.shuffle(rows)
    return rows


def write_corpus(path: Path) -> str:
    """Write the CSV (columns text, section); returns its sha256."""
    rows = make_rows()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "section"])
        writer.writerows(rows)
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    digest = write_corpus(out)
    print(f"{out}: {PER_SECTION * len(SECTIONS)} texts, sections {', '.join(SECTIONS)}; sha256 {digest}")
