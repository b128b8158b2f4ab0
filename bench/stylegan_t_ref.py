"""PyTorch CPU reference for bench/stylegan-t.bench.ts: the official StyleGAN-T generator (lite preset, random
weights, c = a random L2-normalised 768-d embedding, so CLIP is never called) timed per image.

Needs a checkout of autonomousvision/stylegan-t (GANZOO_STYLEGAN_T_REPO=/path); open_clip / timm are stubbed the way
../shared/parity/stylegan-t/README.md describes (they only matter for CLIP / DINO, which the generator path skips).
Prints one JSON line: {"64": ms_per_image, "256": ms_per_image, "threads": n}.
"""
import json
import os
import sys
import time
import types

repo = os.environ.get('GANZOO_STYLEGAN_T_REPO')
if not repo or not os.path.isdir(os.path.join(repo, 'networks')):
    sys.stderr.write('GANZOO_STYLEGAN_T_REPO is not set to a checkout of autonomousvision/stylegan-t\n')
    sys.exit(2)
sys.path.insert(0, repo)

import torch  # noqa: E402

# Stubs for the frozen encoders the generator path never calls.
open_clip = types.ModuleType('open_clip')
sys.modules['open_clip'] = open_clip
timm = types.ModuleType('timm')
timm_data = types.ModuleType('timm.data')
for k in ['OPENAI_CLIP_MEAN', 'OPENAI_CLIP_STD', 'IMAGENET_DEFAULT_MEAN', 'IMAGENET_DEFAULT_STD']:
    setattr(timm_data, k, (0.5, 0.5, 0.5))
timm.data = timm_data
sys.modules['timm'] = timm
sys.modules['timm.data'] = timm_data
tv = types.ModuleType('torchvision')
tvt = types.ModuleType('torchvision.transforms')
tvt.Normalize = lambda *a, **k: (lambda x: x)
tvt.RandomCrop = lambda *a, **k: (lambda x: x)
tv.transforms = tvt
sys.modules.setdefault('torchvision', tv)
sys.modules.setdefault('torchvision.transforms', tvt)

import networks.generator as gen  # noqa: E402


class StubCLIP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.model = torch.nn.Module()
        self.model.visual = torch.nn.Identity()
        self.txt_dim = 768


gen.CLIP = StubCLIP
threads = int(os.environ.get('GANZOO_TORCH_THREADS', '2'))
torch.set_num_threads(threads)
out = {'threads': threads}
for res in [int(r) for r in os.environ.get('GANZOO_BENCH_RES', '64,256').split(',')]:
    torch.manual_seed(0)
    G = gen.Generator(z_dim=64, conditional=True, img_resolution=res,
                      synthesis_kwargs=dict(channel_base=32768, channel_max=512, num_res_blocks=2, architecture='skip')).eval()
    z = torch.randn([1, 64])
    c = torch.nn.functional.normalize(torch.randn([1, 768]), dim=1)
    with torch.no_grad():
        G(z, c, truncation_psi=1.0, noise_mode='const')
        ts = []
        for _ in range(int(os.environ.get('GANZOO_BENCH_REPS', '3'))):
            t0 = time.perf_counter()
            G(z, c, truncation_psi=1.0, noise_mode='const')
            ts.append((time.perf_counter() - t0) * 1000)
    ts.sort()
    out[str(res)] = ts[len(ts) // 2]
print(json.dumps(out))
