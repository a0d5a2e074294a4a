"""Holds most of GPU 0's memory for --seconds: the 'second process' of the device checks."""
import sys
import time

import torch

gib = int(sys.argv[1]) if len(sys.argv) > 1 else 100
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 40
block = torch.empty(gib << 30, dtype=torch.uint8, device="cuda")
print(f"holding {gib} GiB", flush=True)
time.sleep(seconds)
