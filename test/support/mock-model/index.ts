// The mock model ships with larkcode (the playground's offline demo); tests import it from here.
export * from '../../../src/playground/mock-model/index.js';
