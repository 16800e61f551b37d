export {
  addedFileContent,
  addFilePatch,
  defaultUsage,
  type ItemsOptions,
  item,
  reply,
  responseEvents,
} from './builders.js';
export { fallbackTurn } from './fallback.js';
export { recordRequest } from './request.js';
export {
  type RichTurn,
  type RichTurnCommand,
  type RichTurnExpected,
  type RichTurnOptions,
  richTurn,
  richTurnDefaults,
  richTurnStep,
} from './rich-turn.js';
export { type MockModel, startMockModel } from './server.js';
export type {
  DelayStep,
  EventsTurn,
  HangStep,
  HttpTurn,
  OutputItem,
  RawStep,
  RecordedRequest,
  ScriptedTurn,
  SseEvent,
  SseStep,
  StaticTurn,
  ToolOutput,
  Usage,
  UserInputQuestion,
} from './types.js';
