import * as tf from '@tensorflow/tfjs';

test('tfjs runs', () => {
  const x = tf.tensor1d([1, 2, 3]);
  expect(Array.from(x.square().dataSync())).toEqual([1, 4, 9]);
});
