// CardKit v1: card entities, settings, full / batch updates, element ops and streaming content.
import { collectElementIds, findElement } from '../card.js';
import { cardLimitError } from '../card-limits.js';
import { breach, type EmulatorCore } from '../core.js';
import { asObject, fail, ok, type Reply, type RequestContext, type Router } from '../http.js';
import { newCardId } from '../ids.js';
import { LIMITS } from '../limits.js';
import type { CardEntity } from '../types.js';
import { cardErr } from './messages.js';

type Json = Record<string, unknown>;

interface Mutation {
  error?: Reply;
  /** Entity-level changes (streaming state) applied only once the draft passed validation. */
  after?: () => void;
}

const badRequest = (msg: string): Reply => fail(400, 99992402, `field validation failed: ${msg}`);

function parseJson(text: unknown): unknown {
  if (typeof text !== 'string') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Streaming closes itself `streamingTimeoutMs` after it was turned on. */
export function refreshStreaming(card: CardEntity, timeoutMs: number, now = Date.now()): boolean {
  if (card.streamingMode && card.streamingSince !== undefined && now - card.streamingSince >= timeoutMs) {
    card.streamingMode = false;
    return true;
  }
  return false;
}

function applyStreamingConfig(card: CardEntity, config: unknown): void {
  if (!isObject(config) || typeof config.streaming_mode !== 'boolean') return;
  if (config.streaming_mode && !card.streamingMode) card.streamingSince = Date.now();
  if (config.streaming_mode) card.streamingSince = card.streamingSince ?? Date.now();
  card.streamingMode = config.streaming_mode;
  if (!config.streaming_mode) card.streamingSince = undefined;
}

function ensureBody(draft: Json): unknown[] {
  if (!isObject(draft.body)) draft.body = { elements: [] };
  const body = draft.body as Json;
  if (!Array.isArray(body.elements)) body.elements = [];
  return body.elements as unknown[];
}

function parseElementList(text: unknown): Json[] | undefined {
  const parsed = typeof text === 'string' ? parseJson(text) : text;
  if (Array.isArray(parsed) && parsed.every(isObject)) return parsed as Json[];
  if (isObject(parsed)) return [parsed];
  return undefined;
}

const elementMissing = (id: string): Reply => fail(400, 300304, `element not found: ${id}`);

function addElements(draft: Json, params: Json): Reply | undefined {
  const elements = parseElementList(params.elements);
  if (!elements) return badRequest('elements must be a JSON array');
  const type = String(params.type ?? 'append');
  const targetId = typeof params.target_element_id === 'string' ? params.target_element_id : '';
  if (type === 'append') {
    if (targetId) {
      const target = findElement(draft, targetId);
      if (!target) return elementMissing(targetId);
      const list = Array.isArray(target.element.elements) ? target.element.elements : [];
      target.element.elements = [...list, ...elements];
    } else {
      ensureBody(draft).push(...elements);
    }
    return undefined;
  }
  const target = findElement(draft, targetId);
  if (!target) return elementMissing(targetId);
  const at = type === 'insert_before' ? target.index : target.index + 1;
  target.siblings.splice(at, 0, ...elements);
  return undefined;
}

function setContent(draft: Json, elementId: string, content: string): Reply | undefined {
  const found = findElement(draft, elementId);
  if (!found) return elementMissing(elementId);
  const el = found.element;
  if (el.tag === 'markdown' || el.tag === 'plain_text') {
    el.content = content;
    return undefined;
  }
  if (el.tag === 'div' && isObject(el.text) && el.text.tag === 'plain_text') {
    el.text.content = content;
    return undefined;
  }
  return fail(400, 300310, 'only text elements (markdown / plain_text) support streaming content');
}

function applyBatchAction(
  card: CardEntity,
  draft: Json,
  action: Json,
  afters: (() => void)[],
): Reply | undefined {
  const params = asObject(action.params);
  switch (action.action) {
    case 'partial_update_setting': {
      const settings = typeof params.settings === 'string' ? parseJson(params.settings) : params.settings;
      const config = asObject(asObject(settings).config);
      draft.config = { ...asObject(draft.config), ...config };
      afters.push(() => applyStreamingConfig(card, config));
      return undefined;
    }
    case 'add_elements':
      return addElements(draft, params);
    case 'delete_elements': {
      const ids = Array.isArray(params.element_ids) ? params.element_ids.map(String) : [];
      for (const id of ids) {
        const found = findElement(draft, id);
        if (!found) return elementMissing(id);
        found.siblings.splice(found.index, 1);
      }
      return undefined;
    }
    case 'partial_update_element': {
      const found = findElement(draft, String(params.element_id ?? ''));
      if (!found) return elementMissing(String(params.element_id));
      Object.assign(found.element, asObject(params.partial_element), { tag: found.element.tag });
      return undefined;
    }
    case 'update_element': {
      const found = findElement(draft, String(params.element_id ?? ''));
      if (!found) return elementMissing(String(params.element_id));
      found.siblings[found.index] = asObject(params.element);
      return undefined;
    }
    case 'partial_update_card': {
      Object.assign(draft, asObject(params.partial_card_json ?? params.card));
      return undefined;
    }
    default:
      return badRequest(`unknown batch action ${String(action.action)}`);
  }
}

export function registerCardkitRoutes(router: Router, core: EmulatorCore): void {
  const { state } = core;

  /** Size / component / table checks for a card about to be stored. */
  const validateCard = (draft: Json, path: string): Reply | undefined => {
    const error = cardLimitError(core, draft, path, {
      maxBytes: LIMITS.cardEntityBytes,
      sizeLabel: 'card entity',
      tooBig: fail(400, 200860, 'Card content exceeds limit, please keep the card under 30KB'),
      tooManyElements: fail(
        400,
        300305,
        `The number of card components exceeds the limit of ${LIMITS.cardElements}`,
      ),
      tooManyTables: cardErr(11310, 'card table number over limit'),
    });
    if (error) return error;
    const ids = collectElementIds(draft);
    const duplicate = ids.find((id, i) => ids.indexOf(id) !== i);
    if (duplicate) return fail(400, 300301, `duplicate element_id: ${duplicate}`);
    return undefined;
  };

  /**
   * The common path of every sequenced op: existence, uuid idempotency, per-card rate, strictly
   * increasing sequence, then the mutation on a draft that must pass validation before commit.
   */
  const cardOp = (
    ctx: RequestContext,
    op: string,
    mutate: (card: CardEntity, draft: Json) => Mutation,
  ): Reply => {
    const card = state.cards.get(ctx.params.card_id!);
    if (!card) return fail(400, 200740, `card not found: ${ctx.params.card_id}`);
    const body = asObject(ctx.json);
    const elementId = ctx.params.element_id;
    const record = (code: number, sequence?: number) =>
      card.ops.push({ op, sequence, elementId, ok: code === 0, code, at: Date.now() });
    const bodyKey = JSON.stringify(body);
    const uuid = typeof body.uuid === 'string' ? body.uuid : undefined;
    if (uuid) {
      const seen = uuids.get(`${card.cardId}:${uuid}`);
      if (seen === bodyKey) return ok({});
      if (seen !== undefined) return fail(400, 200770, 'UUID conflict');
    }
    const opsInWindow = state.rates.count(`card:${card.cardId}`);
    if (opsInWindow >= LIMITS.cardOpsPerSecond) {
      const error = breach(
        core,
        'card_ops_rate',
        `card ${card.cardId}: ${opsInWindow + 1} ops within 1 s (limit ${LIMITS.cardOpsPerSecond})`,
        ctx.path,
        fail(429, 99991400, 'request trigger frequency limit', { 'x-ogw-ratelimit-reset': '1' }),
      );
      if (error) {
        record(99991400);
        return error;
      }
    }
    const sequence = body.sequence;
    if (typeof sequence !== 'number' || !Number.isInteger(sequence) || sequence < 1) {
      record(99992402);
      return badRequest('sequence is required (int32 >= 1)');
    }
    if (sequence <= card.sequence) {
      const error = breach(
        core,
        'card_sequence',
        `card ${card.cardId}: sequence ${sequence} <= last ${card.sequence}`,
        ctx.path,
        fail(400, 300317, 'sequence number compare failed'),
      );
      if (error) {
        record(300317, sequence);
        return error;
      }
    }
    refreshStreaming(card, core.streamingTimeoutMs);
    const draft = structuredClone(card.json);
    const mutation = mutate(card, draft);
    const error = mutation.error ?? validateCard(draft, ctx.path);
    if (error) {
      record(Number(asObject(error.body).code ?? -1), sequence);
      return error;
    }
    card.json = draft;
    mutation.after?.();
    card.sequence = Math.max(card.sequence, sequence);
    state.rates.record(`card:${card.cardId}`);
    if (uuid) uuids.set(`${card.cardId}:${uuid}`, bodyKey);
    record(0, sequence);
    return ok({});
  };
  const uuids = new Map<string, string>();

  router.on('POST', '/open-apis/cardkit/v1/cards', (ctx) => {
    const body = asObject(ctx.json);
    if (body.type !== 'card_json') return badRequest('type must be card_json');
    const json = parseJson(body.data);
    if (!isObject(json)) return badRequest('data must be a card JSON string');
    const error = validateCard(json, ctx.path);
    if (error) return error;
    const card: CardEntity = {
      cardId: newCardId(),
      json,
      sequence: 0,
      streamingMode: false,
      ops: [],
      createdAt: Date.now(),
    };
    applyStreamingConfig(card, json.config);
    state.cards.set(card.cardId, card);
    return ok({ card_id: card.cardId });
  });

  router.on('PATCH', '/open-apis/cardkit/v1/cards/:card_id/settings', (ctx) =>
    cardOp(ctx, 'settings', (card, draft) => {
      const settings = parseJson(asObject(ctx.json).settings);
      if (!isObject(settings)) return { error: badRequest('settings must be a JSON string') };
      const config = asObject(settings.config);
      draft.config = { ...asObject(draft.config), ...config };
      if (isObject(settings.card_link)) draft.card_link = settings.card_link;
      return { after: () => applyStreamingConfig(card, config) };
    }),
  );

  router.on('PUT', '/open-apis/cardkit/v1/cards/:card_id', (ctx) =>
    cardOp(ctx, 'update', (card, draft) => {
      const json = parseJson(asObject(asObject(ctx.json).card).data);
      if (!isObject(json)) return { error: badRequest('card.data must be a card JSON string') };
      for (const key of Object.keys(draft)) delete draft[key];
      Object.assign(draft, json);
      return { after: () => applyStreamingConfig(card, json.config) };
    }),
  );

  router.on('POST', '/open-apis/cardkit/v1/cards/:card_id/batch_update', (ctx) =>
    cardOp(ctx, 'batch_update', (card, draft) => {
      const actions = parseJson(asObject(ctx.json).actions);
      if (!Array.isArray(actions)) return { error: badRequest('actions must be a JSON array string') };
      const afters: (() => void)[] = [];
      for (const action of actions) {
        const error = applyBatchAction(card, draft, asObject(action), afters);
        if (error) return { error };
      }
      return {
        after: () => {
          for (const fn of afters) fn();
        },
      };
    }),
  );

  router.on('POST', '/open-apis/cardkit/v1/cards/:card_id/elements', (ctx) =>
    cardOp(ctx, 'element_create', (_card, draft) => ({ error: addElements(draft, asObject(ctx.json)) })),
  );

  router.on('PUT', '/open-apis/cardkit/v1/cards/:card_id/elements/:element_id', (ctx) =>
    cardOp(ctx, 'element_update', (_card, draft) => {
      const found = findElement(draft, ctx.params.element_id!);
      if (!found) return { error: elementMissing(ctx.params.element_id!) };
      const element = parseJson(asObject(ctx.json).element);
      if (!isObject(element)) return { error: badRequest('element must be a JSON string') };
      found.siblings[found.index] = element;
      return {};
    }),
  );

  router.on('PATCH', '/open-apis/cardkit/v1/cards/:card_id/elements/:element_id', (ctx) =>
    cardOp(ctx, 'element_patch', (_card, draft) => {
      const found = findElement(draft, ctx.params.element_id!);
      if (!found) return { error: elementMissing(ctx.params.element_id!) };
      const partial = parseJson(asObject(ctx.json).partial_element);
      if (!isObject(partial)) return { error: badRequest('partial_element must be a JSON string') };
      Object.assign(found.element, partial, { tag: found.element.tag });
      return {};
    }),
  );

  router.on('DELETE', '/open-apis/cardkit/v1/cards/:card_id/elements/:element_id', (ctx) =>
    cardOp(ctx, 'element_delete', (_card, draft) => {
      const found = findElement(draft, ctx.params.element_id!);
      if (!found) return { error: elementMissing(ctx.params.element_id!) };
      found.siblings.splice(found.index, 1);
      return {};
    }),
  );

  router.on('PUT', '/open-apis/cardkit/v1/cards/:card_id/elements/:element_id/content', (ctx) =>
    cardOp(ctx, 'element_content', (card, draft) => {
      const content = asObject(ctx.json).content;
      if (typeof content !== 'string') return { error: badRequest('content is required') };
      const elementId = ctx.params.element_id!;
      const located = findElement(draft, elementId);
      if (!located) return { error: elementMissing(elementId) };
      if (!card.streamingMode) {
        const timedOut = card.streamingSince !== undefined;
        const error = timedOut
          ? breach(
              core,
              'streaming_timeout',
              `card ${card.cardId}: streaming auto-closed after ${core.streamingTimeoutMs} ms`,
              ctx.path,
              fail(400, 200850, 'Card streaming timeout'),
            )
          : breach(
              core,
              'streaming_closed',
              `card ${card.cardId}: element content while streaming_mode is off`,
              ctx.path,
              fail(400, 300309, 'Card streaming closed'),
            );
        if (error) return { error };
      }
      return { error: setContent(draft, elementId, content) };
    }),
  );
}
