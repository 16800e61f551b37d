// CodexSdkRunner on the real codex binary (mock model, workspace-write sandbox): one turn with a
// reasoning summary, a succeeding and a failing command, a file change and a final message.
import { readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CodexSdkRunner } from '../../src/agents/codex-sdk/runner.js';
import type { AgentEvent, ToolCall } from '../../src/agents/types.js';
import { displayCommand } from '../../src/cards/markdown.js';
import {
  codexChildEnv,
  codexProviderConfig,
  makeCodexHome,
  makeWorkspace,
} from '../support/codex-harness.js';
import {
  type MockModel,
  type RichTurnExpected,
  richTurn,
  startMockModel,
} from '../support/mock-model/index.js';

describe('CodexSdkRunner on a rich turn', () => {
  let mock: MockModel;
  let workspace: string;
  let runner: CodexSdkRunner;
  let cleanup: () => Promise<void>;

  beforeEach(async () => {
    mock = await startMockModel();
    const home = await makeCodexHome();
    const ws = await makeWorkspace();
    // codex reports file paths under the directory it was given; resolve symlinks (macOS /var → /private/var).
    workspace = await realpath(ws.dir);
    runner = new CodexSdkRunner({
      codexHome: home.codexHome,
      childEnv: codexChildEnv(home.codexHome),
      config: codexProviderConfig(mock.baseUrl),
      apiKey: 'sk-test',
    });
    cleanup = async () => {
      await Promise.all([home.cleanup(), ws.cleanup()]);
    };
  });

  afterEach(async () => {
    await mock.close();
    await cleanup();
  });

  async function runTurn(prompt: string): Promise<AgentEvent[]> {
    const events: AgentEvent[] = [];
    const request = {
      runId: 'run-rich',
      scopeId: 'chat:rich',
      prompt,
      workspace,
      sandbox: 'workspace-write' as const,
      networkAccess: false,
    };
    for await (const event of runner.run(request, AbortSignal.timeout(15_000))) events.push(event);
    return events;
  }

  /** One label per event, e.g. `command:failed`; the order codex produces them in. */
  function timeline(events: AgentEvent[]): string[] {
    return events.map((event) => {
      if (event.type === 'tool') return `${event.tool.kind}:${event.tool.status}`;
      if (event.type === 'done') return `done:${event.outcome}`;
      return event.type;
    });
  }

  function toolEvents<K extends ToolCall['kind']>(
    events: AgentEvent[],
    kind: K,
  ): Extract<ToolCall, { kind: K }>[] {
    return events.flatMap((event) =>
      event.type === 'tool' && event.tool.kind === kind ? [event.tool as Extract<ToolCall, { kind: K }>] : [],
    );
  }

  async function expectRichTurn(events: AgentEvent[], expected: RichTurnExpected): Promise<void> {
    expect(timeline(events)).toEqual([
      'session',
      'reasoning',
      'command:started',
      'command:completed',
      'command:started',
      'command:failed',
      'file_change:started',
      'file_change:completed',
      'text',
      'usage',
      'done:completed',
    ]);

    expect(events.find((event) => event.type === 'reasoning')).toMatchObject({
      text: expected.reasoningText,
    });

    const commands = toolEvents(events, 'command');
    const [okStart, okEnd, failStart, failEnd] = commands;
    for (const start of [okStart, failStart]) {
      expect(start).toMatchObject({ status: 'started', output: '' });
      expect(start).not.toHaveProperty('exitCode');
    }
    expect(okStart!.id).toBe(okEnd!.id);
    expect(failStart!.id).toBe(failEnd!.id);
    expect(okEnd!.id).not.toBe(failEnd!.id);
    for (const [end, want] of [
      [okEnd!, expected.commands[0]],
      [failEnd!, expected.commands[1]],
    ] as const) {
      expect(end.status).toBe(want.status);
      expect(end.exitCode).toBe(want.exitCode);
      expect(end.output).toContain(want.outputIncludes);
      // Codex wraps it as `/bin/bash -lc '<command>'`; the card shows the inner command.
      expect(end.command).toContain(want.command);
      expect(displayCommand(end.command)).toBe(want.command);
    }

    const filePath = join(workspace, expected.file.name);
    const changes = toolEvents(events, 'file_change');
    expect(changes.map((tool) => tool.status)).toEqual(['started', 'completed']);
    for (const change of changes) expect(change.changes).toEqual([{ path: filePath, change: 'add' }]);
    expect(await readFile(filePath, 'utf8')).toBe(expected.file.content);

    expect(events.find((event) => event.type === 'text')).toMatchObject({
      text: expected.finalText,
      mode: 'whole',
    });
    expect(events.find((event) => event.type === 'usage')).toEqual({
      type: 'usage',
      usage: { ...expected.usage, cumulative: true },
    });
    expect(events.at(-1)).toEqual({ type: 'done', outcome: 'completed' });

    // The model got every tool's result back, in order, with the failing exit code.
    expect(mock.requests).toHaveLength(expected.requestCount);
    const outputs = mock.requests.at(-1)!.toolOutputs;
    expect(outputs.map((output) => output.callId)).toEqual([
      expected.commands[0].callId,
      expected.commands[1].callId,
      expected.file.callId,
    ]);
    expect(outputs[1]!.output).toContain('Process exited with code 3');
    expect(outputs[2]!.output).toContain(`A ${expected.file.name}`);
  }

  it('turns an enqueued rich turn into reasoning, two commands, a file change, text and usage', async () => {
    const rich = richTurn({
      fileName: 'notes/run-card.md',
      fileContent: '# Run card\n\n- reasoning\n- two commands\n- this file',
    });
    mock.enqueue(...rich.turns);
    const events = await runTurn('show me everything');

    await expectRichTurn(events, rich.expected);
    expect(rich.expected.file.content).toBe('# Run card\n\n- reasoning\n- two commands\n- this file\n');
    expect(mock.requests[0]!.lastUserText).toBe('show me everything');
  });

  it('plays the same turn from the [[rich]] prompt marker, with nothing enqueued', async () => {
    const events = await runTurn('please [[rich]]');

    await expectRichTurn(events, richTurn({ id: 'rich' }).expected);
  });
});
