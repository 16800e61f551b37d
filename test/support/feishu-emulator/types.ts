export type * from '../../../src/playground/emulator/types.js';
