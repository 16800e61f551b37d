export * from '../../../src/playground/emulator/control-client.js';
