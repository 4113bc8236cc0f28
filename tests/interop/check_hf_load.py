"""Interop check, part 2: load each folder written by export_for_hf.ts with
Hugging Face transformers (MambaForCausalLM, slow path, float32) and compare
its logits with the ones this project computed. Prints one line per model and
exits non-zero when any relative error exceeds 1e-5.

Usage: python3 tests/interop/check_hf_load.py <dir written by export_for_hf.ts>
"""
import json
import sys

import torch
from transformers import MambaForCausalLM

root = sys.argv[1]
expected = json.load(open(f"{root}/expected.json"))
worst = 0.0
for name, case in expected.items():
    model = MambaForCausalLM.from_pretrained(f"{root}/{name}", torch_dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(torch.tensor(case["ids"])).logits.double().flatten()
    ours = torch.tensor(case["logits"], dtype=torch.float64)
    err = ((logits - ours).norm() / logits.norm()).item()
    worst = max(worst, err)
    print(f"{name}: transformers loaded it; relative error vs ours {err:.2e}")
sys.exit(0 if worst <= 1e-5 else 1)
