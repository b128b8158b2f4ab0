/**
 * @ganzoo/cli: the `ganzoo` command line. `buildProgram()` returns the commander program; `main(argv)` runs it
 * and resolves to the exit code (see `EXIT`): 0 ok, 1 failure, 2 usage / bad input, 3 unavailable, 130 interrupted.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { Command, CommanderError, Option } from 'commander';
import * as core from '@ganzoo/core';
import { CliError, EXIT } from './errors';
import { FAMILIES, loadPackage, resolveModelRef, type LoadedGenerator } from './models';
import { writeLabelledGrid } from './grid';

export { EXIT, CliError } from './errors';
export * from './models';

const out = (s: string) => process.stdout.write(`${s}\n`);
const note = (s: string) => process.stderr.write(`${s}\n`);

function int(name: string, min = 0) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new CliError(`${name} must be an integer >= ${min}, got '${v}'`, EXIT.USAGE);
    return n;
  };
}
function num(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new CliError(`${name} must be a number, got '${v}'`, EXIT.USAGE);
    return n;
  };
}

/** "0-7", "1,5,9", "3" -> seeds. */
export function parseSeeds(spec: string): number[] {
  const seeds: number[] = [];
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new CliError(`--seeds: expected numbers or ranges like 0-7,12, got '${part}'`, EXIT.USAGE);
    const a = Number(m[1]);
    const b = m[2] !== undefined ? Number(m[2]) : a;
    if (b < a || b - a > 10000) throw new CliError(`--seeds: bad range '${part}'`, EXIT.USAGE);
    for (let s = a; s <= b; s++) seeds.push(s);
  }
  if (!seeds.length) throw new CliError('--seeds: no seeds given', EXIT.USAGE);
  return seeds;
}

/**
 * `--class-weights`: "star=3" / "star=3,square=0.5" (unlisted classes weigh 1) or one number per class in label order
 * ("1,1,1,3"). Returns a weight per class id.
 */
export function parseClassWeights(spec: string, classes: string[]): number[] {
  const parts = spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (!parts.length) throw new CliError('--class-weights: no weights given', EXIT.USAGE);
  const weight = (t: string, what: string) => {
    const w = Number(t);
    if (t === '' || !Number.isFinite(w) || w < 0) throw new CliError(`--class-weights: the weight of ${what} must be a number >= 0, got '${t}'`, EXIT.USAGE);
    return w;
  };
  if (parts.every((p) => p.includes('='))) {
    const out = classes.map(() => 1);
    for (const p of parts) {
      const [name, w] = p.split('=').map((t) => t.trim());
      const c = classes.indexOf(name);
      if (c < 0) throw new CliError(`--class-weights: unknown class '${name}'; the data has ${classes.join(', ')}`, EXIT.USAGE);
      out[c] = weight(w, name);
    }
    return out;
  }
  if (parts.some((p) => p.includes('='))) throw new CliError(`--class-weights: use either name=weight pairs or one number per class, got '${spec}'`, EXIT.USAGE);
  if (parts.length !== classes.length) {
    throw new CliError(`--class-weights: expected ${classes.length} weights (${classes.join(', ')}), got ${parts.length}`, EXIT.USAGE);
  }
  return parts.map((p, i) => weight(p, classes[i]));
}

/** Pick and initialise the tfjs backend (core's initBackend when available: node > wasm > cpu). */
async function setupBackend(name?: string): Promise<string> {
  const init = (core as unknown as { initBackend?: (o: { backend?: string; log?: boolean }) => Promise<unknown> }).initBackend;
  if (typeof init === 'function') {
    await init({ backend: name, log: false });
    return tf.getBackend();
  }
  const want = name ?? process.env.GANZOO_BACKEND ?? 'cpu';
  if (want === 'wasm') {
    require('@tensorflow/tfjs-backend-wasm');
    if (await tf.setBackend('wasm')) return 'wasm';
  }
  if (!(await tf.setBackend(want === 'wasm' ? 'cpu' : want))) throw new CliError(`backend '${want}' could not be initialised`, EXIT.UNAVAILABLE);
  return tf.getBackend();
}

function classIdsFrom(spec: string | undefined, gen: LoadedGenerator, n: number): { labels: number[]; names: string[] } {
  const names = gen.classNames ?? Array.from({ length: gen.numClasses ?? 0 }, (_, i) => String(i));
  const count = gen.numClasses ?? names.length;
  let ids: number[];
  if (!spec) ids = Array.from({ length: n }, (_, i) => i % Math.max(1, count));
  else {
    ids = spec.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
      if (/^\d+$/.test(s)) {
        const i = Number(s);
        if (i >= count) throw new CliError(`class ${i} out of range: the model has ${count} classes (0..${count - 1})`, EXIT.USAGE);
        return i;
      }
      const i = names.findIndex((c) => c.toLowerCase() === s.toLowerCase());
      if (i < 0) {
        throw new CliError(`unknown class '${s}': expected an id 0..${count - 1} or one of ${names.slice(0, 20).join(', ')}` +
          `${names.length > 20 ? ', ...' : ''}`, EXIT.USAGE);
      }
      return i;
    });
    if (!ids.length) throw new CliError('--classes: no classes given', EXIT.USAGE);
  }
  return { labels: ids, names: ids.map((i) => names[i] ?? String(i)) };
}

async function loadGen(ref: string, opts: { offline?: boolean; cacheDir?: string; clip?: string }): Promise<LoadedGenerator> {
  const { family, weights } = resolveModelRef(ref);
  const api = loadPackage(family, 'loadGenerator');
  try {
    return await api.loadGenerator!(weights ?? family.id, opts);
  } catch (e) {
    if (e instanceof CliError) throw e;
    const msg = (e as Error).message;
    const code = /offline|not cached|ENOTFOUND|network|EAI_AGAIN|ECONNREFUSED/i.test(msg) ? EXIT.UNAVAILABLE : EXIT.FAILURE;
    throw new CliError(`could not load ${ref}: ${msg}`, code);
  }
}

/** Generate one image per (seed, condition) pair and write a labelled grid. */
async function generateGrid(gen: LoadedGenerator, o: { seeds: number[]; classes?: string; prompts?: string[]; truncation?: number; out: string; cols?: number; labels: boolean }) {
  let labels: number[] | undefined;
  let prompts: string[] | undefined;
  let names: string[];
  let seeds = o.seeds;
  if (gen.conditioning === 'text') {
    if (!o.prompts?.length) throw new CliError('this model is text-conditional: give --prompts "a red star|a blue circle"', EXIT.USAGE);
    // Every prompt with every seed.
    prompts = o.prompts.flatMap((p) => seeds.map(() => p));
    seeds = o.prompts.flatMap(() => o.seeds);
    names = prompts.map((p, i) => `${p.slice(0, 24)} #${seeds[i]}`);
  } else if (gen.conditioning === 'class') {
    if (o.prompts?.length) throw new CliError('this model is class-conditional: use --classes, not --prompts', EXIT.USAGE);
    const c = classIdsFrom(o.classes, gen, o.seeds.length);
    if (o.classes) {
      labels = c.labels.flatMap((l) => o.seeds.map(() => l));
      seeds = c.labels.flatMap(() => o.seeds);
      names = labels.map((l) => c.names[c.labels.indexOf(l)]);
    } else {
      labels = c.labels;
      names = c.names;
    }
  } else {
    names = seeds.map((s) => `#${s}`);
  }
  const images = await gen.generate({ seeds, labels, prompts, truncation: o.truncation });
  try {
    const cols = o.cols ?? (o.classes || o.prompts ? o.seeds.length : undefined);
    await writeLabelledGrid(o.out, images, { cols, labels: o.labels ? names : undefined, minTile: 64 });
  } finally {
    images.dispose();
  }
  return { count: seeds.length };
}

export function buildProgram(): Command {
  const program = new Command('ganzoo');
  program
    .description('ganzoo: GANs on TensorFlow.js (BigGAN-deep, StyleGAN-T, GigaGAN, GALIP): generate, fine-tune, convert, download')
    .version('0.1.0')
    .option('--backend <name>', 'tfjs backend: tensorflow | wasm | cpu (default: best available; env GANZOO_BACKEND)')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', `
Exit codes: 0 ok, 1 failure (training stopped, write failed), 2 bad usage or input,
            3 model/weights not available here, 130 interrupted.
Models: ${FAMILIES.map((f) => `${f.id} (${f.describe})`).join(', ')}.`);
  const backendOf = () => program.opts().backend as string | undefined;

  program.command('make-shapes')
    .description('draw a labelled, captioned procedural image set (circles, squares, triangles, stars)')
    .requiredOption('--out <dir>', 'output folder (class sub-folders, labels.csv, captions.jsonl, classes.json)')
    .option('--n <count>', 'number of images', int('--n', 1), 5000)
    .option('--size <px>', 'image side in pixels', int('--size', 8), 32)
    .option('--seed <n>', 'random seed', int('--seed'), 0)
    .option('--background <name>', `background of every image (${core.SHAPE_BACKGROUNDS.join(', ')})`, 'random')
    .addOption(new Option('--classes <kind>', 'what a class is').choices(['colour-shape', 'shape']).default('colour-shape'))
    .action(async (o) => {
      const t0 = Date.now();
      const bar = core.createProgress({ total: o.n, label: 'make-shapes', unit: 'images', everySteps: 1000 });
      const r = await core.makeShapes({ out: o.out, n: o.n, size: o.size, seed: o.seed, classing: o.classes, background: o.background,
        onProgress: (done) => bar.update(done) });
      bar.done();
      note(`wrote ${r.files} images in ${r.classes.length} classes to ${path.resolve(o.out)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      out(path.resolve(o.out));
    });

  program.command('finetune')
    .description('train / fine-tune a model on a folder of images (checkpoints, samples, resume)')
    .requiredOption('--model <id>', `model family (${FAMILIES.map((f) => f.id).join(', ')}), weights id or folder`)
    .requiredOption('--data <dir>', 'image folder (class sub-folders or labels.csv; captions.jsonl or <image>.txt)')
    .requiredOption('--out <dir>', 'run folder: log.jsonl, samples/, checkpoints/, final/')
    .option('--preset <name>', 'architecture preset of the model (e.g. tiny, shapes-32)')
    .option('--weights <id|dir>', 'start from these weights (default: the model reference, or random init)')
    .option('--steps <n>', 'total steps to reach (a resumed run continues to the same total)', int('--steps', 1), 1000)
    .option('--batch <n>', 'batch size (default: the model recipe)', int('--batch', 1))
    .option('--accumulate <n>', 'micro-batches per update (gradient accumulation)', int('--accumulate', 1), 1)
    .option('--lr <x>', 'learning rate of both G and D', num('--lr'))
    .option('--lr-g <x>', 'generator learning rate', num('--lr-g'))
    .option('--lr-d <x>', 'discriminator learning rate', num('--lr-d'))
    .option('--d-steps <n>', 'D steps per G step (default: the model recipe)', int('--d-steps', 1))
    .option('--seed <n>', 'run seed (data order, latents)', int('--seed'), 0)
    .option('--resume [path]', 'continue from the newest checkpoint in --out (or from this checkpoint / run folder)')
    .option('--sample-every <n>', 'sample grid every N steps (0 = only at the end)', int('--sample-every'), 500)
    .option('--checkpoint-every <n>', 'checkpoint every N steps (0 = only at the end)', int('--checkpoint-every'), 500)
    .option('--keep <k>', 'checkpoints to keep', int('--keep', 1), 3)
    .option('--max-nonfinite <n>', 'stop after N steps in a row with NaN/Inf', int('--max-nonfinite', 1), 10)
    .option('--no-flip', 'no random horizontal flips')
    .option('--allow-upscale', 'use images smaller than the model resolution (upscaled) instead of skipping them')
    .option('--export <dir>', 'write the final EMA generator here (default <out>/final)')
    .option('--clip <id|dir>', 'text-conditional models: CLIP folder or id for the captions (default: the weights\' own, else a random test encoder)')
    .option('--mode-seeking <lambda>', 'biggan-deep: weight of the mode-seeking regulariser on G (Mao et al. 2019; default: the preset\'s, else 0)', num('--mode-seeking'))
    .option('--diffaugment <policy>', 'biggan-deep: DiffAugment of D\'s inputs, a comma list of color, translation, cutout, or none (default: the preset\'s)')
    .option('--class-weights <spec>', 'class-conditional data: sample classes at these relative rates per image, e.g. star=3 or 1,1,1,3 (draws with replacement; default: each image once per epoch)')
    .option('--ema-decay <d>', 'biggan-deep: decay of the EMA generator that is sampled and exported, in (0, 1) (default: the preset\'s, else 0.999); on --resume the EMA continues with it', num('--ema-decay'))
    .option('--bn-class-scale <s>', 'biggan-deep, a fresh model: factor >= 0 on the class embedding in G\'s conditional BNs (gen_z gets it whole; default 1 = BigGAN-deep; stored in the config)', num('--bn-class-scale'))
    .action(async (o) => {
      const backend = await setupBackend(backendOf());
      const { family, weights } = resolveModelRef(o.model);
      if (o.diffaugment !== undefined && family.id !== 'biggan-deep') {
        throw new CliError(`--diffaugment is a biggan-deep option; ${family.id} has its own augmentation recipe`, EXIT.USAGE);
      }
      if (o.modeSeeking !== undefined && family.id !== 'biggan-deep') {
        throw new CliError(`--mode-seeking is a biggan-deep option, not one of ${family.id}`, EXIT.USAGE);
      }
      if (o.modeSeeking !== undefined && !(o.modeSeeking >= 0)) throw new CliError(`--mode-seeking must be >= 0, got ${o.modeSeeking}`, EXIT.USAGE);
      if (o.emaDecay !== undefined && family.id !== 'biggan-deep') {
        throw new CliError(`--ema-decay is a biggan-deep option; ${family.id} keeps its own EMA recipe`, EXIT.USAGE);
      }
      if (o.emaDecay !== undefined && !(o.emaDecay > 0 && o.emaDecay < 1)) throw new CliError(`--ema-decay must be in (0, 1), got ${o.emaDecay}`, EXIT.USAGE);
      if (o.bnClassScale !== undefined) {
        if (family.id !== 'biggan-deep') throw new CliError(`--bn-class-scale is a biggan-deep option, not one of ${family.id}`, EXIT.USAGE);
        if (!(o.bnClassScale >= 0)) throw new CliError(`--bn-class-scale must be >= 0, got ${o.bnClassScale}`, EXIT.USAGE);
        if (o.weights ?? weights) throw new CliError('--bn-class-scale shapes a fresh model; given weights keep their own', EXIT.USAGE);
      }
      const api = loadPackage(family, 'createTrainable');
      let ds: core.ImageFolderDataset;
      try {
        ds = core.scanImageFolder(o.data);
      } catch (e) {
        throw new CliError((e as Error).message, EXIT.USAGE);
      }
      for (const w of ds.warnings) note(`warning: ${w}`);
      let classWeights: number[] | undefined;
      if (o.classWeights !== undefined) {
        if (!ds.hasLabels) throw new CliError(`--class-weights needs class labels, but ${o.data} has none`, EXIT.USAGE);
        classWeights = parseClassWeights(o.classWeights, ds.classes);
        note(`class weights: ${ds.classes.map((c, i) => `${c} ${classWeights![i]}`).join(', ')}`);
      }
      const model = await api.createTrainable!({
        preset: o.preset, weights: o.weights ?? weights, numClasses: ds.hasLabels ? ds.classes.length : undefined,
        classNames: ds.hasLabels ? ds.classes : undefined, seed: o.seed, batchSize: o.batch, clip: o.clip, augment: o.diffaugment,
        modeSeeking: o.modeSeeking, emaDecay: o.emaDecay, bnClassScale: o.bnClassScale,
      });
      if ((model as { textEncoderSpec?: { kind?: string } }).textEncoderSpec?.kind === 'random') {
        note('warning: no --clip given: captions are encoded by a seeded random CLIP with a byte-level tokenizer; ' +
          'enough to check the pipeline, not to learn what prompts mean');
      }
      let stopRequested = false;
      const onSig = () => {
        if (stopRequested) process.exit(EXIT.INTERRUPTED);
        stopRequested = true;
        note('\ninterrupted: finishing the current step and writing a checkpoint (Ctrl-C again to abort)');
      };
      process.on('SIGINT', onSig);
      try {
        if (model.conditioning === 'class' && model.numClasses !== undefined && ds.hasLabels && ds.classes.length > model.numClasses) {
          throw new CliError(`${o.data} has ${ds.classes.length} classes but the model has ${model.numClasses}`, EXIT.USAGE);
        }
        let loader: core.DataLoader;
        try {
          loader = new core.DataLoader(ds, {
            classWeights,
            batchSize: o.batch ?? model.trainDefaults.batchSize, resolution: model.resolution, seed: o.seed, flip: o.flip,
            requireLabels: model.conditioning === 'class', requireCaptions: model.conditioning === 'text', allowUpscale: o.allowUpscale,
            onBadFile: (f, r) => note(`warning: skipping ${f}: ${r}`),
          });
        } catch (e) {
          throw new CliError((e as Error).message, EXIT.USAGE);
        }
        const lr = o.lr as number | undefined;
        note(`finetune ${model.modelId} (${backend}) on ${ds.items.length} images${ds.hasLabels ? ` in ${ds.classes.length} classes` : ''}, ` +
          `${model.resolution}px, batch ${o.batch ?? model.trainDefaults.batchSize}x${o.accumulate}, ${o.steps} steps -> ${path.resolve(o.out)}`);
        const bar = core.createProgress({ total: o.steps, label: 'finetune', unit: 'steps', everySteps: 10 });
        let result: core.TrainResult;
        try {
          result = await core.train(model, loader, {
            outDir: o.out, steps: o.steps, seed: o.seed, accumulate: o.accumulate, dStepsPerG: o.dSteps,
            lrG: o.lrG ?? lr, lrD: o.lrD ?? lr, resume: o.resume, sampleEvery: o.sampleEvery, checkpointEvery: o.checkpointEvery,
            keepCheckpoints: o.keep, maxNonFinite: o.maxNonfinite,
            sampleCond: model.conditioning === 'text' ? { captions: ds.items.slice(0, 16).map((it) => it.caption ?? '') } : undefined,
            shouldStop: () => stopRequested,
            onStep: (r) => {
              const f: core.ProgressFields = {};
              for (const [k, v] of Object.entries(r.losses)) if (k.endsWith('/loss')) f[k.slice(0, -5)] = +v.toPrecision(4);
              if (r.skipped) f.skipped = r.skipped;
              bar.update(r.step, f);
            },
            onEvent: (m) => {
              const resumed = /^resumed from .* at step (\d+)$/.exec(m);
              if (resumed) bar.skipTo(Number(resumed[1]));
              if (!m.startsWith('samples')) note(m);
            },
          });
        } catch (e) {
          const msg = (e as Error).message;
          throw new CliError(msg, /^cannot resume|resume path not found|no checkpoint to resume|must be/.test(msg) ? EXIT.USAGE : EXIT.FAILURE);
        } finally {
          bar.done();
        }
        if (model.exportGenerator && !result.stopped) {
          const dir = o.export ?? path.join(o.out, 'final');
          await model.exportGenerator(dir);
          note(`exported the EMA generator to ${path.resolve(dir)}`);
        }
        note(`${result.stopped ? 'stopped' : 'done'} at step ${result.step}${result.resumedFrom !== undefined ? ` (resumed from ${result.resumedFrom})` : ''}; ` +
          `non-finite steps skipped: ${result.nonFiniteTotal}; bad files: ${loader.badFiles}`);
        if (result.lastCheckpoint) out(result.lastCheckpoint);
        if (result.stopped) throw new CliError(`interrupted at step ${result.step}; resume with --resume`, EXIT.INTERRUPTED);
      } finally {
        process.off('SIGINT', onSig);
        model.dispose();
      }
    });

  program.command('generate')
    .description('generate an image grid from a model (classes or prompts x seeds) to a PNG')
    .requiredOption('--model <id|dir>', 'weights id (e.g. biggan-deep-128, biggan-deep-shapes) or weights / run folder')
    .option('--classes <list>', 'class names or ids, comma-separated (class-conditional models)')
    .option('--prompts <list>', 'prompts separated by "|" (text-conditional models)')
    .option('--seeds <spec>', 'seeds: 0-7 or 1,5,9', '0-7')
    .option('--truncation <x>', 'truncation (models that support it)', num('--truncation'))
    .option('--out <file>', 'output PNG', 'ganzoo.png')
    .option('--cols <n>', 'grid columns', int('--cols', 1))
    .option('--no-labels', 'no text labels under the tiles')
    .option('--offline', 'never touch the network (cache and local paths only)')
    .option('--clip <id|dir>', 'text-conditional models: CLIP folder or id for the prompts (default: the one the model records)')
    .action(async (o) => {
      await setupBackend(backendOf());
      const gen = await loadGen(o.model, { offline: o.offline, clip: o.clip });
      try {
        const t0 = Date.now();
        const r = await generateGrid(gen, { seeds: parseSeeds(o.seeds), classes: o.classes, prompts: o.prompts?.split('|').map((s: string) => s.trim()).filter(Boolean),
          truncation: o.truncation, out: o.out, cols: o.cols, labels: o.labels });
        note(`generated ${r.count} images in ${((Date.now() - t0) / 1000).toFixed(2)} s`);
        out(path.resolve(o.out));
      } finally {
        gen.dispose();
      }
    });

  program.command('demo')
    .description('offline demo: a labelled grid from the shipped default model (BigGAN-deep trained on shapes)')
    .option('--model <id|dir>', 'model to use', 'biggan-deep-shapes')
    .option('--out <file>', 'output PNG', path.join(os.tmpdir(), 'ganzoo-demo.png'))
    .option('--seeds <spec>', 'seeds per class', '0-3')
    .option('--truncation <x>', 'truncation (default: the model\'s)', num('--truncation'))
    .action(async (o) => {
      const backend = await setupBackend(backendOf());
      const gen = await loadGen(o.model, { offline: o.model === 'biggan-deep-shapes' });
      try {
        const t0 = Date.now();
        const seeds = parseSeeds(o.seeds);
        const n = gen.numClasses ?? gen.classNames?.length ?? 0;
        const classes = n > 0 && n <= 64 ? Array.from({ length: n }, (_, i) => String(i)).join(',') : undefined;
        const r = await generateGrid(gen, { seeds, classes, out: o.out, labels: true, cols: classes ? seeds.length : undefined, truncation: o.truncation });
        note(`demo: ${r.count} images from ${o.model} on ${backend} in ${((Date.now() - t0) / 1000).toFixed(2)} s`);
        out(path.resolve(o.out));
      } finally {
        gen.dispose();
      }
    });

  program.command('eval-shapes')
    .description('class accuracy of a model trained on make-shapes data, read back by the analytic shape/colour checker')
    .requiredOption('--model <id|dir>', 'weights id or folder (e.g. biggan-deep-shapes, a finetune run folder)')
    .option('--n <count>', 'samples (classes cycle)', int('--n', 1), 500)
    .option('--seed <n>', 'first seed', int('--seed'), 100000)
    .option('--truncation <x>', 'truncation (models that support it)', num('--truncation'))
    .option('--class-names <list>', 'class names in label order, when the model does not carry them (e.g. circle,square,triangle,star)')
    .option('--json', 'one JSON line only')
    .action(async (o) => {
      await setupBackend(backendOf());
      const gen = await loadGen(o.model, { offline: true });
      if (o.classNames) gen.classNames = String(o.classNames).split(',').map((x: string) => x.trim());
      try {
        const r = await evalShapes(gen, { n: o.n, seed: o.seed, truncation: o.truncation });
        if (!o.json) {
          note(`shape/colour checker on ${r.n} samples of ${o.model}:`);
          for (const [c, a] of Object.entries(r.perClass)) {
            const cols = Object.entries(r.colours[c]).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${v}`).join(', ');
            note(`  ${c.padEnd(16)} ${(100 * a).toFixed(1).padStart(5)}%   variety ${r.variety[c].toFixed(3)}   colours: ${cols}`);
          }
          note(`  accuracy ${(100 * r.accuracy).toFixed(1)}% (shape ${(100 * r.shapeAccuracy).toFixed(1)}%, colour ${r.colourAccuracy === null ? "n/a" : `${(100 * r.colourAccuracy).toFixed(1)}%`})`);
        }
        out(JSON.stringify(r));
      } finally {
        gen.dispose();
      }
    });

  program.command('convert')
    .description('convert an official checkpoint (PyTorch .pth/.bin, safetensors) to a ganzoo weights folder')
    .requiredOption('--model <family>', `model family (${FAMILIES.filter((f) => f.id !== 'dcgan').map((f) => f.id).join(', ')})`)
    .requiredOption('--from <file>', 'official checkpoint file')
    .requiredOption('--out <dir>', 'output folder (config.json + safetensors)')
    .option('--config <file>', 'official config JSON, when the checkpoint does not carry one')
    .action(async (o) => {
      const { family } = resolveModelRef(o.model);
      if (!fs.existsSync(o.from)) throw new CliError(`checkpoint not found: ${o.from}`, EXIT.USAGE);
      const api = loadPackage(family, 'convertCheckpoint');
      await setupBackend(backendOf());
      await api.convertCheckpoint!(path.resolve(o.from), path.resolve(o.out), { config: o.config });
      out(path.resolve(o.out));
    });

  program.command('download')
    .description('download a manifest weights id into the cache (sha256-checked), with progress')
    .argument('<id>', 'weights id from weights-manifest.json, e.g. biggan-deep-128')
    .option('--cache-dir <dir>', 'cache folder (default ~/.cache/ganzoo or GANZOO_CACHE)')
    .action(async (id: string, o) => {
      let r: core.ResolvedWeights;
      try {
        r = await core.resolveWeights(id, { cacheDir: o.cacheDir, onProgress: core.progressCallback() });
      } catch (e) {
        const msg = (e as Error).message;
        throw new CliError(`download ${id} failed: ${msg}`, /unknown|not in the manifest|expected one of/i.test(msg) ? EXIT.USAGE : EXIT.UNAVAILABLE);
      }
      out(r.dir);
    });

  program.command('info')
    .description('what a weights file / weights folder / checkpoint / run folder holds')
    .argument('<path>', 'a .safetensors file, weights folder, checkpoint folder or finetune run folder')
    .option('--json', 'machine-readable output')
    .action(async (p: string, o) => {
      const info = describePath(p);
      if (o.json) out(JSON.stringify(info, null, 1));
      else out(formatInfo(info));
    });

  program.command('bench')
    .description('time generation and training steps of a model preset on this machine')
    .option('--model <family>', 'model family', 'dcgan')
    .option('--preset <name>', 'preset (default: the model\'s smallest)', 'tiny')
    .option('--batch <n>', 'batch size', int('--batch', 1), 4)
    .option('--steps <n>', 'timed training steps (after 1 warm-up)', int('--steps', 1), 3)
    .option('--classes <n>', 'classes for class-conditional models', int('--classes', 1), 10)
    .action(async (o) => {
      const backend = await setupBackend(backendOf());
      const { family } = resolveModelRef(o.model);
      const api = loadPackage(family, 'createTrainable');
      // counted from before the model exists to after it is disposed: state a model holds until dispose is no leak
      const before = tf.memory().numTensors;
      const model = await api.createTrainable!({ preset: o.preset, numClasses: o.classes, seed: 0, batchSize: o.batch });
      const R = model.resolution;
      const B = o.batch;
      const source: core.BatchSource = (() => {
        let pos = 0;
        return {
          batchSize: B,
          get position() { return pos; },
          seek(p: number) { pos = p; },
          async next() {
            const batch: core.TrainBatch = {
              images: tf.randomUniform([B, R, R, 3], -1, 1, 'float32', core.tfSeed(pos)) as tf.Tensor4D,
              labels: tf.tensor1d(Array.from({ length: B }, (_, i) => (pos + i) % o.classes), 'int32'),
              captions: model.conditioning === 'text' ? Array.from({ length: B }, () => 'a red star on a blue background') : undefined,
            };
            pos += B;
            return { batch, indices: [] };
          },
        };
      })();
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-bench-'));
      let r: Record<string, unknown>;
      try {
        const times: number[] = [];
        await core.train(model, source, { outDir: tmp, steps: o.steps + 1, sampleEvery: 0, checkpointEvery: 0,
          onStep: (r) => times.push(r.dt) });
        const steady = times.slice(1);
        const stepS = steady.reduce((a, b) => a + b, 0) / steady.length;
        const seeds = Array.from({ length: B }, (_, i) => i);
        const cond = model.conditioning === 'text' ? { captions: seeds.map(() => 'a red star on a blue background') } : { labels: seeds.map((i) => i % o.classes) };
        const t0 = Date.now();
        tf.dispose(model.sample(seeds, cond));
        const t1 = Date.now();
        tf.dispose(model.sample(seeds, cond));
        const genMs = (Date.now() - t1) / B;
        r = { model: model.modelId, preset: o.preset, backend, resolution: R, batch: B, trainStepS: +stepS.toFixed(4),
          trainImagesPerS: +((B * model.trainDefaults.dStepsPerG) / stepS).toFixed(2), generateMsPerImage: +genMs.toFixed(2),
          firstGenerateMs: t1 - t0 };
      } finally {
        model.dispose();
        fs.rmSync(tmp, { recursive: true, force: true });
      }
      r.leakedTensors = tf.memory().numTensors - before;
      out(JSON.stringify(r));
    });

  return program;
}

/** What a shapes class name asks for: 'star' or 'red-star'. */
function parseShapeClass(name: string): { shape?: string; colour?: string } {
  const parts = name.toLowerCase().split(/[-_ ]/);
  return { shape: parts.find((p) => (core.SHAPES as readonly string[]).includes(p)), colour: parts.find((p) => (core.COLOURS as string[]).includes(p)) };
}

/**
 * Generate `n` images cycling over the model's classes and score them with `checkShapes`: a sample is correct
 * when its shape (and colour, if the class names one) matches the class.
 */
export async function evalShapes(gen: LoadedGenerator, o: { n: number; seed: number; truncation?: number; chunk?: number }) {
  const names = gen.classNames ?? [];
  const wanted = names.map(parseShapeClass);
  if (!names.length || wanted.some((w) => !w.shape)) {
    throw new CliError(`eval-shapes needs a model whose classes are shapes (e.g. 'star' or 'red-star'), found ${names.slice(0, 8).join(', ') || 'no class names'}`, EXIT.USAGE);
  }
  let ok = 0, shapeOk = 0, colourOk = 0, colourN = 0;
  const perOk = new Array(names.length).fill(0);
  const perN = new Array(names.length).fill(0);
  // per class: pixel sums and squared sums over its samples (variety over seeds), and the colours the checker read
  const sum: Float64Array[] = [];
  const sumSq: Float64Array[] = [];
  const colours = names.map(() => ({} as Record<string, number>));
  const chunk = o.chunk ?? 50;
  for (let start = 0; start < o.n; start += chunk) {
    const idx = Array.from({ length: Math.min(chunk, o.n - start) }, (_, k) => start + k);
    const labels = idx.map((i) => i % names.length);
    const imgs = await gen.generate({ seeds: idx.map((i) => o.seed + i), labels, truncation: o.truncation });
    const u8 = tf.tidy(() => imgs.add(1).mul(127.5).round().clipByValue(0, 255).cast('int32'));
    const px = await u8.data();
    const [, h, w] = imgs.shape;
    tf.dispose([imgs, u8]);
    labels.forEach((l, k) => {
      const img = px.subarray(k * h * w * 3, (k + 1) * h * w * 3);
      const got = core.checkShapes(img as unknown as Uint8Array, h, w);
      if (!sum[l]) {
        sum[l] = new Float64Array(img.length);
        sumSq[l] = new Float64Array(img.length);
      }
      for (let j = 0; j < img.length; j++) {
        const v = img[j] / 255;
        sum[l][j] += v;
        sumSq[l][j] += v * v;
      }
      const cn = got.colour ?? 'none';
      colours[l][cn] = (colours[l][cn] ?? 0) + 1;
      const sOk = got.shape === wanted[l].shape;
      const cOk = !wanted[l].colour || got.colour === wanted[l].colour;
      if (wanted[l].colour) {
        colourN++;
        if (got.colour === wanted[l].colour) colourOk++;
      }
      if (sOk) shapeOk++;
      if (sOk && cOk) {
        ok++;
        perOk[l]++;
      }
      perN[l]++;
    });
  }
  return {
    n: o.n, accuracy: ok / o.n, shapeAccuracy: shapeOk / o.n, colourAccuracy: colourN ? colourOk / colourN : null,
    perClass: Object.fromEntries(names.map((c, i) => [c, perN[i] ? perOk[i] / perN[i] : 0])),
    variety: Object.fromEntries(names.map((c, i) => [c, classVariety(sum[i], sumSq[i], perN[i])])),
    colours: Object.fromEntries(names.map((c, i) => [c, colours[i]])),
  };
}

/**
 * Mean over pixels of the standard deviation across one class's samples (pixel values in [0, 1]): 0 when every seed
 * draws the same image (per-class mode collapse). The white-background shapes set itself (125 images a class, 32 px)
 * measures 0.19 circle, 0.23 square, 0.14 triangle, 0.11 star.
 */
function classVariety(sum: Float64Array | undefined, sumSq: Float64Array | undefined, n: number): number {
  if (!sum || !sumSq || n < 2) return 0;
  let acc = 0;
  for (let j = 0; j < sum.length; j++) {
    const m = sum[j] / n;
    acc += Math.sqrt(Math.max(0, sumSq[j] / n - m * m));
  }
  return +(acc / sum.length).toFixed(4);
}

export interface PathInfo {
  path: string;
  kind: 'safetensors' | 'weights-folder' | 'checkpoint' | 'run' | 'dataset';
  [k: string]: unknown;
}

function safetensorsSummary(file: string) {
  const { tensors, metadata } = core.readSafetensors(file);
  const entries = Object.entries(tensors);
  const params = entries.reduce((a, [, t]) => a + t.shape.reduce((x, y) => x * y, 1), 0);
  const dtypes: Record<string, number> = {};
  for (const [, t] of entries) dtypes[t.sourceDtype] = (dtypes[t.sourceDtype] ?? 0) + 1;
  return { tensors: entries.length, parameters: params, bytes: fs.statSync(file).size, dtypes, metadata,
    sample: entries.slice(0, 8).map(([k, t]) => `${k} ${JSON.stringify(t.shape)} ${t.sourceDtype}`) };
}

/** Describe a path for `ganzoo info`. */
export function describePath(p: string): PathInfo {
  if (!fs.existsSync(p)) throw new CliError(`not found: ${p}`, EXIT.USAGE);
  const abs = path.resolve(p);
  if (fs.statSync(abs).isFile()) {
    if (!abs.endsWith('.safetensors')) throw new CliError(`${p}: expected a .safetensors file or a folder`, EXIT.USAGE);
    try {
      return { path: abs, kind: 'safetensors', ...safetensorsSummary(abs) };
    } catch (e) {
      throw new CliError(`${p}: ${(e as Error).message}`, EXIT.FAILURE);
    }
  }
  if (fs.existsSync(path.join(abs, 'state.json'))) {
    const st = core.readCheckpointState(abs);
    return { path: abs, kind: 'checkpoint', modelId: st.modelId, step: st.step, dataPosition: st.dataPosition, seed: st.seed,
      config: st.config, settings: st.settings, counters: st.counters, savedAt: st.savedAt,
      model: safetensorsSummary(path.join(abs, 'model.safetensors')) };
  }
  if (fs.existsSync(path.join(abs, 'checkpoints')) || fs.existsSync(path.join(abs, 'log.jsonl'))) {
    const cks = core.listCheckpoints(path.join(abs, 'checkpoints'));
    let last: Record<string, unknown> | undefined;
    const logFile = path.join(abs, 'log.jsonl');
    if (fs.existsSync(logFile)) {
      const lines = fs.readFileSync(logFile, 'utf8').trim().split('\n').reverse();
      for (const x of lines.filter((y) => y.startsWith('{"step"'))) {
        try {
          last = JSON.parse(x);
          break;
        } catch {
          /* a line cut short by a crash */
        }
      }
    }
    return { path: abs, kind: 'run', checkpoints: cks.map((c) => ({ step: c.step, path: c.path })),
      latest: cks.length ? core.readCheckpointState(cks[cks.length - 1].path).modelId : undefined, lastStep: last,
      samples: fs.existsSync(path.join(abs, 'samples')) ? fs.readdirSync(path.join(abs, 'samples')).length : 0 };
  }
  const st = fs.readdirSync(abs).filter((f) => f.endsWith('.safetensors'));
  if (st.length || fs.existsSync(path.join(abs, 'config.json'))) {
    const cfg = fs.existsSync(path.join(abs, 'config.json')) ? JSON.parse(fs.readFileSync(path.join(abs, 'config.json'), 'utf8')) : undefined;
    return { path: abs, kind: 'weights-folder', config: cfg, files: Object.fromEntries(st.map((f) => [f, safetensorsSummary(path.join(abs, f))])) };
  }
  try {
    const ds = core.scanImageFolder(abs);
    return { path: abs, kind: 'dataset', images: ds.items.length, classes: ds.classes, captions: ds.hasCaptions, warnings: ds.warnings.slice(0, 10) };
  } catch (e) {
    throw new CliError(`${p}: not a weights file, weights folder, checkpoint, run or dataset (${(e as Error).message})`, EXIT.USAGE);
  }
}

function formatInfo(i: PathInfo): string {
  const lines = [`${i.kind}: ${i.path}`];
  const st = (s: ReturnType<typeof safetensorsSummary>, ind = '  ') => {
    lines.push(`${ind}${s.tensors} tensors, ${s.parameters.toLocaleString('en')} parameters, ${(s.bytes / 1e6).toFixed(2)} MB, dtypes ${JSON.stringify(s.dtypes)}`);
    if (Object.keys(s.metadata).length) lines.push(`${ind}metadata ${JSON.stringify(s.metadata)}`);
    for (const x of s.sample) lines.push(`${ind}  ${x}`);
  };
  if (i.kind === 'safetensors') st(i as unknown as ReturnType<typeof safetensorsSummary>);
  else if (i.kind === 'checkpoint') {
    lines.push(`  model ${i.modelId}, step ${i.step}, data position ${i.dataPosition}, seed ${i.seed}, saved ${i.savedAt}`);
    lines.push(`  config ${JSON.stringify(i.config)}`, `  settings ${JSON.stringify(i.settings)}`, `  counters ${JSON.stringify(i.counters)}`);
    st(i.model as ReturnType<typeof safetensorsSummary>);
  } else if (i.kind === 'run') {
    const cks = i.checkpoints as { step: number; path: string }[];
    lines.push(`  model ${i.latest ?? '?'}; ${cks.length} checkpoint(s)${cks.length ? `: steps ${cks.map((c) => c.step).join(', ')}` : ''}; ${i.samples} sample grid(s)`);
    if (i.lastStep) lines.push(`  last logged step ${JSON.stringify(i.lastStep)}`);
  } else if (i.kind === 'weights-folder') {
    if (i.config) lines.push(`  config ${JSON.stringify(i.config)}`);
    for (const [f, s] of Object.entries(i.files as Record<string, ReturnType<typeof safetensorsSummary>>)) {
      lines.push(`  ${f}:`);
      st(s, '    ');
    }
  } else {
    lines.push(`  ${i.images} images, ${(i.classes as string[]).length} classes, captions: ${i.captions}`);
    for (const w of i.warnings as string[]) lines.push(`  warning: ${w}`);
  }
  return lines.join('\n');
}

/** Run the CLI; resolves to the exit code. */
export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const c of program.commands) {
    c.exitOverride();
  }
  try {
    await program.parseAsync(argv);
    return EXIT.OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.OK;
      return EXIT.USAGE;
    }
    if (e instanceof CliError) {
      note(`ganzoo: error: ${e.message}`);
      return e.exitCode;
    }
    note(`ganzoo: error: ${(e as Error).message ?? String(e)}`);
    if (process.env.GANZOO_DEBUG) note((e as Error).stack ?? '');
    return EXIT.FAILURE;
  }
}
