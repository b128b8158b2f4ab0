/** Image grids with optional text labels under each tile, written as PNG (sharp). */
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { writeFileAtomic } from '@ganzoo/core';

const esc = (s: string) => s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' }[c]!));

/**
 * Write `images` (NHWC in [-1, 1]) as a grid of `cols` columns; tiles are upscaled (nearest) to at least
 * `minTile` pixels so small models stay visible; `labels` (one per image) are printed under the tiles.
 */
export async function writeLabelledGrid(file: string, images: tf.Tensor4D, opts: { cols?: number; labels?: string[]; minTile?: number } = {}): Promise<void> {
  const [n, h, w] = images.shape;
  const cols = Math.max(1, Math.min(n, opts.cols ?? Math.ceil(Math.sqrt(n))));
  const rows = Math.ceil(n / cols);
  const scale = Math.max(1, Math.ceil((opts.minTile ?? 0) / Math.max(h, w)));
  const th = h * scale;
  const tw = w * scale;
  const labelH = opts.labels ? 16 : 0;
  const pad = 4;
  const W = cols * tw + (cols + 1) * pad;
  const H = rows * (th + labelH) + (rows + 1) * pad;
  const u8 = tf.tidy(() => {
    const up = scale > 1 ? tf.image.resizeNearestNeighbor(images, [th, tw]) : images;
    return up.add(1).mul(127.5).round().clipByValue(0, 255).cast('int32');
  });
  const px = await u8.data();
  u8.dispose();
  const composites: NonNullable<Parameters<ReturnType<typeof sharp>['composite']>[0]> = [];
  for (let i = 0; i < n; i++) {
    const tile = Buffer.alloc(th * tw * 3);
    for (let j = 0; j < th * tw * 3; j++) tile[j] = px[i * th * tw * 3 + j];
    composites.push({
      input: tile, raw: { width: tw, height: th, channels: 3 },
      left: pad + (i % cols) * (tw + pad), top: pad + Math.floor(i / cols) * (th + labelH + pad),
    });
  }
  if (opts.labels) {
    const fs = Math.min(12, Math.max(8, Math.floor(tw / 7)));
    const texts = opts.labels.slice(0, n).map((l, i) =>
      `<text x="${pad + (i % cols) * (tw + pad) + tw / 2}" y="${pad + Math.floor(i / cols) * (th + labelH + pad) + th + 12}" ` +
      `font-family="DejaVu Sans, sans-serif" font-size="${fs}" text-anchor="middle" fill="#222">${esc(l)}</text>`).join('');
    composites.push({ input: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">${texts}</svg>`), left: 0, top: 0 });
  }
  const png = await sharp({ create: { width: W, height: H, channels: 3, background: '#ffffff' } }).composite(composites).png().toBuffer();
  writeFileAtomic(file, png);
}
