"""PyTorch CPU reference for bench/biggan-deep-train.bench.ts: one BigGAN-deep training step (dStepsPerG D updates on
hinge loss, then one G update), written for this bench (not the official code) with the layer shapes and ops of
ganzoo's BigGAN-deep G (HF layout: bottleneck GenBlocks, conditional BN with batch statistics in train mode, SAGAN
attention) and ajbrock's BigGAN-deep D (bottleneck DBlocks, avg-pool downsampling, channel-concat shortcut,
projection), spectral norm with one power iteration per forward (torch.nn.utils.spectral_norm), Adam(betas (0,
0.999), eps 1e-6), EMA of G. The config is the ganzoo config JSON plus the D architecture the bench passes.

Usage: python3 biggan_deep_train_ref.py <config.json> <batch> <reps>   -> prints one JSON line
"""
import copy
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SN = nn.utils.spectral_norm


def sn_conv(cin, cout, k, bias=True, eps=1e-4):
    return SN(nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias), eps=eps)


def sn_linear(cin, cout, bias=True, eps=1e-4):
    return SN(nn.Linear(cin, cout, bias=bias), eps=eps)


class CondBN(nn.Module):
    def __init__(self, c, cond, eps, sn_eps):
        super().__init__()
        self.bn = nn.BatchNorm2d(c, affine=False, eps=eps)
        self.scale = sn_linear(cond, c, False, sn_eps)
        self.offset = sn_linear(cond, c, False, sn_eps)

    def forward(self, x, cond):
        return self.bn(x) * (1 + self.scale(cond))[:, :, None, None] + self.offset(cond)[:, :, None, None]


class Attn(nn.Module):
    def __init__(self, c, sn_eps):
        super().__init__()
        self.theta = sn_conv(c, c // 8, 1, False, sn_eps)
        self.phi = sn_conv(c, c // 8, 1, False, sn_eps)
        self.g = sn_conv(c, c // 2, 1, False, sn_eps)
        self.o = sn_conv(c // 2, c, 1, False, sn_eps)
        self.gamma = nn.Parameter(torch.tensor(0.5))

    def forward(self, x):
        b, c, h, w = x.shape
        theta = self.theta(x).view(b, c // 8, h * w)
        phi = F.max_pool2d(self.phi(x), 2).view(b, c // 8, h * w // 4)
        g = F.max_pool2d(self.g(x), 2).view(b, c // 2, h * w // 4)
        beta = F.softmax(torch.bmm(theta.transpose(1, 2), phi), -1)
        return x + self.gamma * self.o(torch.bmm(g, beta.transpose(1, 2)).view(b, c // 2, h, w))


class GBlock(nn.Module):
    def __init__(self, cin, cout, cond, up, eps, sn_eps):
        super().__init__()
        mid = cin // 4
        self.up, self.cout = up, cout
        self.bn = nn.ModuleList([CondBN(c, cond, eps, sn_eps) for c in (cin, mid, mid, mid)])
        self.convs = nn.ModuleList([sn_conv(cin, mid, 1, True, sn_eps), sn_conv(mid, mid, 3, True, sn_eps),
                                    sn_conv(mid, mid, 3, True, sn_eps), sn_conv(mid, cout, 1, True, sn_eps)])

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


class G(nn.Module):
    def __init__(self, g):
        super().__init__()
        ch, se = g['ch'], g['snEps']
        cond = g['zDim'] + g['embedDim']
        self.c0 = ch * g['layers'][0][1]
        self.embed = nn.Linear(g['numClasses'], g['embedDim'], bias=False)
        self.gen_z = sn_linear(cond, 16 * self.c0, True, se)
        mods = []
        for i, (up, a, b) in enumerate(g['layers']):
            if i in g['attention']:
                mods.append(Attn(ch * a, se))
            mods.append(GBlock(ch * a, ch * b, cond, up, g['bnEps'], se))
        self.layers = nn.ModuleList(mods)
        c = ch * g['layers'][-1][2]
        self.bn = nn.BatchNorm2d(c, eps=g['bnEps'])
        self.to_rgb = sn_conv(c, g['rgbConvChannels'], 3, True, se)
        self.nc = g['numClasses']

    def forward(self, z, y):
        cond = torch.cat([z, self.embed(F.one_hot(y, self.nc).float())], 1)
        h = self.gen_z(cond).view(-1, 4, 4, self.c0).permute(0, 3, 1, 2).contiguous()
        for m in self.layers:
            h = m(h) if isinstance(m, Attn) else m(h, cond)
        return torch.tanh(self.to_rgb(F.relu(self.bn(h)))[:, :3])


class DBlock(nn.Module):
    def __init__(self, cin, cout, down, se):
        super().__init__()
        hid = cout // 4
        self.down, self.cin, self.cout = down, cin, cout
        self.c1, self.c2 = sn_conv(cin, hid, 1, True, se), sn_conv(hid, hid, 3, True, se)
        self.c3, self.c4 = sn_conv(hid, hid, 3, True, se), sn_conv(hid, cout, 1, True, se)
        self.sc = sn_conv(cin, cout - cin, 1, True, se) if cin != cout else None

    def forward(self, x):
        h = self.c3(F.relu(self.c2(F.relu(self.c1(F.relu(x))))))
        h = F.relu(h)
        if self.down:
            h = F.avg_pool2d(h, 2)
        h = self.c4(h)
        s = F.avg_pool2d(x, 2) if self.down else x
        if self.sc is not None:
            s = torch.cat([s, self.sc(s)], 1)
        return h + s


class D(nn.Module):
    def __init__(self, d, arch):
        super().__init__()
        ch, se = d['ch'], d['snEps']
        self.input_conv = sn_conv(3, arch['inMult'][0] * ch, 3, True, se)
        mods = []
        last = 0
        for s in range(len(arch['inMult'])):
            cout = arch['outMult'][s] * ch
            for k in range(d['depth']):
                cin = arch['inMult'][s] * ch if k == 0 else cout
                mods.append(DBlock(cin, cout, arch['downsample'][s] and k == 0, se))
            if arch['resolutions'][s] in d['attentionResolutions']:
                mods.append(Attn(cout, se))
            last = cout
        self.blocks = nn.ModuleList(mods)
        self.linear = sn_linear(last, d['outputDim'], True, se)
        self.embed = SN(nn.Embedding(d['numClasses'], last), eps=se)

    def forward(self, x, y):
        h = self.input_conv(x)
        for m in self.blocks:
            h = m(h)
        h = torch.sum(F.relu(h), [2, 3])
        return self.linear(h) + torch.sum(self.embed(y) * h, 1, keepdim=True)


def main():
    cfg = json.load(open(sys.argv[1]))
    batch, reps = int(sys.argv[2]), int(sys.argv[3])
    if os.environ.get('GANZOO_TORCH_THREADS'):
        torch.set_num_threads(int(os.environ['GANZOO_TORCH_THREADS']))
    torch.manual_seed(0)
    gc, dc = cfg['generator'], cfg['discriminator']
    g, d = G(gc).train(), D(dc, cfg['dArch']).train()
    g_ema = copy.deepcopy(g).eval()
    opt = cfg['train']
    og = torch.optim.Adam(g.parameters(), lr=opt['gLr'], betas=(0.0, 0.999), eps=1e-6)
    od = torch.optim.Adam(d.parameters(), lr=opt['dLr'], betas=(0.0, 0.999), eps=1e-6)
    res = dc['resolution']
    real = torch.rand(batch, 3, res, res) * 2 - 1
    labels = torch.randint(0, gc['numClasses'], (batch,))

    def step():
        for _ in range(opt['dStepsPerG']):
            od.zero_grad(set_to_none=True)
            with torch.no_grad():
                fake = g(torch.randn(batch, gc['zDim']), labels)
            loss = F.relu(1 - d(real, labels)).mean() + F.relu(1 + d(fake, labels)).mean()
            loss.backward()
            od.step()
        og.zero_grad(set_to_none=True)
        loss = -d(g(torch.randn(batch, gc['zDim']), labels), labels).mean()
        loss.backward()
        og.step()
        with torch.no_grad():
            for pe, p in zip(g_ema.parameters(), g.parameters()):
                pe.mul_(0.9999).add_(p, alpha=0.0001)

    step()  # warm-up
    times, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    times.sort()
    cpu.sort()
    print(json.dumps({'threads': torch.get_num_threads(), 'g_params': sum(p.numel() for p in g.parameters()),
                      'd_params': sum(p.numel() for p in d.parameters()), 'ms_per_step': times[len(times) // 2],
                      'cpu_ms_per_step': cpu[len(cpu) // 2]}))


if __name__ == '__main__':
    main()
