#!/usr/bin/env node
import { main } from './index';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`ganzoo: error: ${(e as Error)?.message ?? e}\n`);
    process.exitCode = 1;
  },
);
