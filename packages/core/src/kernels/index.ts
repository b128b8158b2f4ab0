// Composed training kernels and higher-order gradients (registered by initBackend; exported for tests and benches).
export { registerTrainingKernels, isComposedKernel, builtinKernel, KERNELS_FOR_BACKEND, COMPOSED_KERNELS } from './register';
export { registerHigherOrderGradients } from './gradients';
export {
  conv2dBackpropInput, conv2dBackpropFilter, conv2dBackpropFilterByConv, conv2dBackpropFilterByTaps,
  depthwiseConv2dBackpropInput, depthwiseConv2dBackpropFilter, depthwiseConv2dBackpropFilterByConv,
  depthwiseConv2dBackpropFilterByTaps,
} from './conv';
export { unsortedSegmentSum, einsum, resizeGrad, maxPoolGrad } from './misc';
