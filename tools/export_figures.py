"""Copy the README's figures out of the executed notebook: each code cell tagged ``figure-NAME``
becomes ``imgs/NAME.png``. The notebook itself never writes files into the repository.

    python tools/export_figures.py [hw2.ipynb]
"""
import base64
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(notebook=REPO / "hw2.ipynb"):
    cells = json.loads(Path(notebook).read_text())["cells"]
    written = 0
    for cell in cells:
        for tag in cell.get("metadata", {}).get("tags", []):
            if not tag.startswith("figure-"):
                continue
            pngs = [o["data"]["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
            if len(pngs) != 1:
                sys.exit(f"{notebook}: the cell tagged {tag} has {len(pngs)} figures, expected 1; run the notebook first")
            target = REPO / "imgs" / f"{tag[len('figure-'):]}.png"
            target.write_bytes(base64.b64decode(pngs[0]))
            print(f"wrote {target.relative_to(REPO)}")
            written += 1
    if not written:
        sys.exit(f"{notebook}: no cell is tagged figure-NAME")


if __name__ == "__main__":
    main(*sys.argv[1:])
