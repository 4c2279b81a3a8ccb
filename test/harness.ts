// Integration harness: a real sandbox PSP (HTTP on loopback), a real paycore process
// (node dist/core/main.js) against the shared NATS and Redis, and a gRPC client. The code lives
// in bench/stack.ts (the load benchmarks launch the same stack from compiled JS); tests import
// it from here.

export * from '../bench/stack';
export * from '../bench/deps';
