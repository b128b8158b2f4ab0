"""PyTorch CPU reference for bench/biggan-deep.bench.ts: a minimal BigGAN-deep generator written for this bench
(not the official code) with the layer shapes and ops of the Hugging Face BigGAN-deep-128 generator: class
embedding, SN-linear gen_z, 10 bottleneck GenBlocks with conditional BN from truncation-indexed stats, SAGAN
attention at 64x64, final BN, conv_to_rgb (128 ch, first 3 kept), tanh. Spectral norm is folded into the weights
(as the ganzoo inference path caches W/sigma). Random weights; eval mode; torch.no_grad.

Usage: python3 biggan_deep_ref.py <batches comma-separated> <reps>   -> prints one JSON line
  GANZOO_TORCH_THREADS=N   torch.set_num_threads(N) (default: torch's own choice)
  Also reports CPU time per image (time.process_time, all threads): on a loaded machine it measures the work done,
  where wall time also counts waiting for a core.
"""
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CH, ZD, NC = 128, 128, 1000
LAYERS = [(False, 16, 16), (True, 16, 16), (False, 16, 16), (True, 16, 8), (False, 8, 8),
          (True, 8, 4), (False, 4, 4), (True, 4, 2), (False, 2, 2), (True, 2, 1)]
ATTN = 8
EPS = 1e-4


class CondBN(nn.Module):
    def __init__(self, c, cond):
        super().__init__()
        self.scale = nn.Linear(cond, c, bias=False)
        self.offset = nn.Linear(cond, c, bias=False)
        self.register_buffer('mean', torch.randn(c) * 0.1)
        self.register_buffer('var', torch.rand(c) + 0.5)

    def forward(self, x, cond):
        x = (x - self.mean[None, :, None, None]) / torch.sqrt(self.var[None, :, None, None] + EPS)
        return x * (1 + self.scale(cond))[:, :, None, None] + self.offset(cond)[:, :, None, None]


class Block(nn.Module):
    def __init__(self, cin, cout, cond, up):
        super().__init__()
        mid = cin // 4
        self.up, self.cout = up, cout
        self.bn = nn.ModuleList([CondBN(c, cond) for c in (cin, mid, mid, mid)])
        self.convs = nn.ModuleList([nn.Conv2d(cin, mid, 1), nn.Conv2d(mid, mid, 3, padding=1),
                                    nn.Conv2d(mid, mid, 3, padding=1), nn.Conv2d(mid, cout, 1)])

    def forward(self, x, cond):
        h = self.convs[0](F.relu(self.bn[0](x, cond)))
        h = F.relu(self.bn[1](h, cond))
        if self.up:
            h = F.interpolate(h, scale_factor=2, mode='nearest')
        h = self.convs[1](h)
        h = self.convs[2](F.relu(self.bn[2](h, cond)))
        h = self.convs[3](F.relu(self.bn[3](h, cond)))
        s = x[:, :self.cout] if x.shape[1] != self.cout else x
        if self.up:
            s = F.interpolate(s, scale_factor=2, mode='nearest')
        return h + s


class Attn(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.theta = nn.Conv2d(c, c // 8, 1, bias=False)
        self.phi = nn.Conv2d(c, c // 8, 1, bias=False)
        self.g = nn.Conv2d(c, c // 2, 1, bias=False)
        self.o = nn.Conv2d(c // 2, c, 1, bias=False)
        self.gamma = nn.Parameter(torch.tensor(0.5))

    def forward(self, x):
        b, c, h, w = x.shape
        theta = self.theta(x).view(b, c // 8, h * w)
        phi = F.max_pool2d(self.phi(x), 2).view(b, c // 8, h * w // 4)
        g = F.max_pool2d(self.g(x), 2).view(b, c // 2, h * w // 4)
        beta = F.softmax(torch.bmm(theta.transpose(1, 2), phi), -1)
        o = self.o(torch.bmm(g, beta.transpose(1, 2)).view(b, c // 2, h, w))
        return x + self.gamma * o


class G(nn.Module):
    def __init__(self):
        super().__init__()
        cond = 2 * ZD
        self.embed = nn.Linear(NC, ZD, bias=False)
        self.gen_z = nn.Linear(cond, 16 * 16 * CH)
        mods = []
        for i, (up, a, b) in enumerate(LAYERS):
            if i == ATTN:
                mods.append(Attn(CH * a))
            mods.append(Block(CH * a, CH * b, cond, up))
        self.layers = nn.ModuleList(mods)
        self.bn_w = nn.Parameter(torch.ones(CH))
        self.bn_b = nn.Parameter(torch.zeros(CH))
        self.register_buffer('mean', torch.zeros(CH))
        self.register_buffer('var', torch.ones(CH))
        self.to_rgb = nn.Conv2d(CH, CH, 3, padding=1)

    def forward(self, z, y):
        cond = torch.cat([z, self.embed(y)], 1)
        h = self.gen_z(cond).view(-1, 4, 4, 16 * CH).permute(0, 3, 1, 2).contiguous()
        for m in self.layers:
            h = m(h) if isinstance(m, Attn) else m(h, cond)
        h = F.relu(F.batch_norm(h, self.mean, self.var, self.bn_w, self.bn_b, False, 0.0, EPS))
        return torch.tanh(self.to_rgb(h)[:, :3])


def main():
    batches = [int(b) for b in sys.argv[1].split(',')]
    reps = int(sys.argv[2])
    if os.environ.get('GANZOO_TORCH_THREADS'):
        torch.set_num_threads(int(os.environ['GANZOO_TORCH_THREADS']))
    torch.manual_seed(0)
    g = G().eval()
    params = sum(p.numel() for p in g.parameters())
    out = {'threads': torch.get_num_threads(), 'params': params, 'ms_per_image': {}, 'cpu_ms_per_image': {}}
    with torch.no_grad():
        for b in batches:
            z = torch.randn(b, ZD) * 0.4
            y = F.one_hot(torch.randint(0, NC, (b,)), NC).float()
            g(z, y)  # warm-up
            times, cpu = [], []
            for _ in range(reps):
                t0, c0 = time.perf_counter(), time.process_time()
                g(z, y)
                times.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
            times.sort()
            cpu.sort()
            out['ms_per_image'][str(b)] = times[len(times) // 2] / b
            out['cpu_ms_per_image'][str(b)] = cpu[len(cpu) // 2] / b
    print(json.dumps(out))


if __name__ == '__main__':
    main()
