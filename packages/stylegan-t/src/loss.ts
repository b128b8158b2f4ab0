/**
 * StyleGAN-T training losses (training/loss.py ProjectedGANLoss) and recipe pieces (train.py, training_loop.py):
 * projected hinge loss (each term also divided by the batch size, as official), CLIP guidance, the D-input blur
 * schedule, and the EMA ramp.
 */
import * as tf from '@tensorflow/tfjs';
import { clipSphericalLoss, filter2d, hingeDLossParts, hingeGLoss, tfSeed } from '@ganzoo/core';
import { CLIP, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, resizeImages } from '@ganzoo/encoders';

export interface LossSettings {
  /** Initial sigma of the D-input blur (train.py --blur-init 32; ProjectedGANLoss default 2). */
  blurInitSigma: number;
  /** The blur fades to 0 over this many kimg (train.py --blur-fade-kimg 1000; class default 0 = off). */
  blurFadeKimg: number;
  /** Weight of the CLIP guidance loss (train.py --clip-weight, default 0). */
  clipWeight: number;
}

export const DEFAULT_LOSS_SETTINGS: LossSettings = { blurInitSigma: 32, blurFadeKimg: 1000, clipWeight: 0 };

/** set_blur_sigma: sigma(t) = max(1 - t / (fade_kimg 1000), 0) sigma_0 when fade_kimg > 1, else 0. */
export function blurSigma(curNimg: number, s: Pick<LossSettings, 'blurInitSigma' | 'blurFadeKimg'>): number {
  if (s.blurFadeKimg > 1) return Math.max(1 - curNimg / (s.blurFadeKimg * 1e3), 0) * s.blurInitSigma;
  return 0;
}

/** The blur taps f(x) = 2^(-(x / sigma)^2), x in [-floor(3 sigma), floor(3 sigma)], normalised; null when empty. */
export function blurTaps(sigma: number): number[] | null {
  const size = Math.floor(sigma * 3);
  if (!(size > 0)) return null;
  const f: number[] = [];
  for (let x = -size; x <= size; x++) f.push(2 ** -((x / sigma) ** 2));
  const s = f.reduce((a, b) => a + b, 0);
  return f.map((v) => v / s);
}

/** ProjectedGANLoss.blur: separable Gaussian-like FIR filter2d with zero padding (identity when sigma < 1/3). */
export function blurImages(img: tf.Tensor4D, sigma: number): tf.Tensor4D {
  const taps = blurTaps(sigma);
  if (!taps) return img.clone();
  return tf.tidy(() => filter2d(img, tf.tensor1d(taps)));
}

/** run_D's preprocessing: area-downsample images larger than G's resolution, then the blur. */
export function prepareDInput(img: tf.Tensor4D, gResolution: number, sigma: number): tf.Tensor4D {
  return tf.tidy(() => {
    const x = img.shape[2] > gResolution ? resizeImages(img, gResolution, gResolution, 'area') : img;
    return blurImages(x, sigma);
  });
}

/** D loss: mean(relu(1 + D(G(z)))) / B + mean(relu(1 - D(x))) / B (hinge, Lim & Ye 2017; StyleGAN-T's extra / B). */
export function projectedDLoss(realLogits: tf.Tensor2D, fakeLogits: tf.Tensor2D): { loss: tf.Scalar; real: tf.Scalar; fake: tf.Scalar } {
  return tf.tidy(() => {
    const p = hingeDLossParts(realLogits, fakeLogits);
    const real = tf.div(p.real, realLogits.shape[0]) as tf.Scalar;
    const fake = tf.div(p.fake, fakeLogits.shape[0]) as tf.Scalar;
    return { loss: tf.add(real, fake) as tf.Scalar, real, fake };
  });
}

/** G adversarial loss: -mean(D(G(z))) / B (hinge G loss with StyleGAN-T's extra / B). */
export function projectedGLoss(fakeLogits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.div(hingeGLoss(fakeLogits), fakeLogits.shape[0]) as tf.Scalar);
}

/**
 * CLIP guidance (StyleGAN-T sec. 3.3): [random 64 crop if larger] -> area resize to 224 -> [0, 1] -> [bicubic to the
 * CLIP input size] -> OpenAI CLIP normalisation -> image features -> mean arccos(<x^, c^>)^2 against the text embeddings c.
 */
export function clipGuidanceLoss(clip: CLIP, images: tf.Tensor4D, textEmbeds: tf.Tensor2D, seed = 0): tf.Scalar {
  const size = clip.config.vision.imageSize;
  return tf.tidy(() => {
    let x = images;
    const [, h, w] = x.shape;
    if (w > 64) {
      const r = tf.randomUniform([2], 0, 1, 'float32', tfSeed(seed >>> 0));
      const [ry, rx] = Array.from(r.dataSync());
      x = tf.slice(x, [0, Math.min(h - 64, Math.floor(ry * (h - 63))), Math.min(w - 64, Math.floor(rx * (w - 63))), 0], [-1, 64, 64, -1]);
    }
    x = resizeImages(x, 224, 224, 'area'); // loss.py: F.interpolate(gen_img, 224, mode='area')
    x = tf.div(tf.add(x, 1), 2) as tf.Tensor4D;
    // networks/clip.py encode_image: bicubic resize to the CLIP input size (identity for ViT-L/14 at 224)
    if (size !== 224) x = resizeImages(x, size, size, 'bicubic');
    x = tf.div(tf.sub(x, tf.tensor1d(OPENAI_CLIP_MEAN)), tf.tensor1d(OPENAI_CLIP_STD)) as tf.Tensor4D;
    return clipSphericalLoss(clip.encodeImage(x), textEmbeds);
  });
}

/**
 * G_ema decay per update (training_loop.py): ema_nimg = ema_kimg 1000, ramped to min(ema_nimg, cur_nimg rampup);
 * beta = 0.5^(batch / max(ema_nimg, 1e-8)) (a half-life of ema_nimg images). train.py: ema_kimg = batch 10 / 32.
 */
export function emaBeta(batchSize: number, curNimg: number, emaKimg = (batchSize * 10) / 32, emaRampup: number | null = 0.05): number {
  let emaNimg = emaKimg * 1000;
  if (emaRampup !== null) emaNimg = Math.min(emaNimg, curNimg * emaRampup);
  return 0.5 ** (batchSize / Math.max(emaNimg, 1e-8));
}
