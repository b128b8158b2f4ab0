import type { Config } from 'jest';

const config: Config = {
  testEnvironment: '<rootDir>/jest.env.js',
  roots: ['<rootDir>/packages', '<rootDir>/tests'],
  testMatch: ['**/packages/*/test/**/*.test.ts', '**/tests/**/*.test.ts'],
  transform: { '^.+\\.tsx?$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.jest.json' }] },
  moduleNameMapper: { '^@ganzoo/([^/]+)$': '<rootDir>/packages/$1/src' },
  testTimeout: 120000,
  maxWorkers: 2,
};
export default config;
