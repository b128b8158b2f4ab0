/**
 * Child process for the SIGKILL / resume test: trains the tiny GAN on a data folder.
 * usage: node -r ts-node/register/transpile-only train-child.ts <data> <out> <steps> <checkpointEvery> [resume]
 */
import * as tf from '@tensorflow/tfjs';
import { DataLoader, scanImageFolder } from '../../src/data/dataset';
import { train } from '../../src/trainer';
import { TinyGan } from './tiny-gan';

async function mainChild(): Promise<void> {
  const [data, out, steps, every, resume] = process.argv.slice(2);
  await tf.setBackend('cpu');
  const model = new TinyGan({ resolution: 8, numClasses: 4, ch: 4, r1Interval: 2 });
  const loader = new DataLoader(scanImageFolder(data), { batchSize: 4, resolution: 8, seed: 1 });
  await train(model, loader, { outDir: out, steps: Number(steps), seed: 3, sampleEvery: 0, checkpointEvery: Number(every), keepCheckpoints: 2, resume: resume === 'resume' });
  model.dispose();
}

mainChild().catch((e) => {
  process.stderr.write(`child failed: ${(e as Error).stack}\n`);
  process.exit(1);
});
