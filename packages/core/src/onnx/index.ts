// ONNX model writer (dependency-free protobuf) and the optional onnxruntime-node engine.
export * from './graph';
export * from './runtime';
