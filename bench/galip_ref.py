"""PyTorch CPU timing reference for bench/galip.bench.ts: a GALIP-shaped generator (same layer shapes and op counts as
NetG at the COCO size: fc_code, 4 M_Blocks, conv_fuse, a 12-block width-768 ViT with one prompt token in blocks 1..8,
conv, G_Blocks with DF-GAN affine fusion, to_rgb), written here from the architecture description with random weights.
Prints one JSON line: {"ms_per_image": {batch: ms}}. Usage: galip_ref.py <batches comma-separated> <reps>"""
import json, math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_grad_enabled(False)


class Affine(nn.Module):
    def __init__(self, c, ch):
        super().__init__()
        self.g = nn.Sequential(nn.Linear(c, ch), nn.ReLU(), nn.Linear(ch, ch))
        self.b = nn.Sequential(nn.Linear(c, ch), nn.ReLU(), nn.Linear(ch, ch))

    def forward(self, x, y):
        return self.g(y)[:, :, None, None] * x + self.b(y)[:, :, None, None]


class DF(nn.Module):
    def __init__(self, c, ch):
        super().__init__()
        self.a0, self.a1 = Affine(c, ch), Affine(c, ch)

    def forward(self, x, y):
        return F.leaky_relu(self.a1(F.leaky_relu(self.a0(x, y), 0.2), y), 0.2)


class Block(nn.Module):
    def __init__(self, w, heads):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(w), nn.LayerNorm(w)
        self.attn = nn.MultiheadAttention(w, heads)
        self.fc, self.proj = nn.Linear(w, 4 * w), nn.Linear(4 * w, w)

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        h = self.fc(self.ln_2(x))
        return x + self.proj(h * torch.sigmoid(1.702 * h))


class G(nn.Module):
    def __init__(self, nz=100, cond=512, nf=64, W=768, grid=7):
        super().__init__()
        c = nz + cond
        self.grid, self.W = grid, W
        self.fc_code = nn.Linear(nz, grid * grid * 64)
        self.mblocks = nn.ModuleList([nn.ModuleList([nn.Conv2d(64, 32, 3, 1, 1), DF(c, 32), nn.Conv2d(32, 64, 3, 1, 1), DF(c, 64)]) for _ in range(4)])
        self.conv_fuse = nn.Conv2d(64, W, 5, 1, 2)
        self.cls = nn.Parameter(torch.randn(W) * 0.02)
        self.pos = nn.Parameter(torch.randn(grid * grid + 1, W) * 0.02)
        self.ln_pre = nn.LayerNorm(W)
        self.blocks = nn.ModuleList([Block(W, W // 64) for _ in range(12)])
        self.conv = nn.Conv2d(W, nf * 8, 5, 1, 2)
        self.fc_prompt = nn.Linear(c, W * 8)
        chs = [nf * min(2 ** i, 8) for i in range(int(math.log2(256)) - 1)][::-1]
        sizes = [8, 16, 32, 64, 128, 224]
        self.gblocks = nn.ModuleList()
        for i, (a, b) in enumerate(zip(chs[:-1], chs[1:])):
            self.gblocks.append(nn.ModuleList([DF(c, a), nn.Conv2d(a, b, 3, 1, 1), DF(c, b), nn.Conv2d(b, b, 3, 1, 1), nn.Conv2d(a, b, 1) if a != b else nn.Identity()]))
        self.sizes = sizes
        self.to_rgb = nn.Conv2d(chs[-1], 3, 3, 1, 1)

    def forward(self, z, s):
        B = z.shape[0]
        c = torch.cat([z, s], 1)
        h = self.fc_code(z).view(B, 64, self.grid, self.grid)
        prompts = self.fc_prompt(c).view(B, 8, self.W)
        for c1, f1, c2, f2 in self.mblocks:
            h = h + f2(c2(f1(c1(h), c)), c)
        fuse = self.conv_fuse(h)
        x = fuse.flatten(2).permute(2, 0, 1)
        x = torch.cat([self.cls.expand(1, B, -1), x], 0) + self.pos[:, None]
        x = self.ln_pre(x)
        for i, blk in enumerate(self.blocks):
            if 1 <= i <= 8:
                x = blk(torch.cat([x, prompts[:, i - 1][None]], 0))[:-1]
            else:
                x = blk(x)
        m = x[1:].permute(1, 2, 0).reshape(B, self.W, self.grid, self.grid)
        h = self.conv(fuse + 0.1 * m)
        for (f1, c1, f2, c2, sc), size in zip(self.gblocks, self.sizes):
            h = F.interpolate(h, size=(size, size))
            h = sc(h) + c2(f2(c1(f1(h, c)), c))
        return self.to_rgb(F.leaky_relu(h, 0.2))


def main():
    batches = [int(b) for b in sys.argv[1].split(',')]
    reps = int(sys.argv[2])
    torch.set_num_threads(int(__import__('os').environ.get('GANZOO_BENCH_THREADS', '2')))
    g = G().eval()
    out = {}
    for b in batches:
        z, s = torch.randn(b, 100), torch.randn(b, 512)
        g(z, s)
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            g(z, s)
            ts.append((time.perf_counter() - t0) * 1000)
        ts.sort()
        out[str(b)] = ts[len(ts) // 2] / b
    print(json.dumps({'ms_per_image': out}))


if __name__ == '__main__':
    main()
