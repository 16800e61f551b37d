// The emulator ships with larkcode (the playground uses it); tests import it from here.
export * from '../../../src/playground/emulator/index.js';
