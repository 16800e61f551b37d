// Tenant token, WS endpoint discovery, bot info and user lookup.
import type { EmulatorCore } from '../core.js';
import { asObject, fail, ok, type Router } from '../http.js';
import { hex } from '../ids.js';

export const TOKEN_TTL_SEC = 7200;

export function registerAuthRoutes(router: Router, core: EmulatorCore): void {
  router.on('POST', '/open-apis/auth/v3/tenant_access_token/internal', (ctx) => {
    const body = asObject(ctx.json);
    if (body.app_id !== core.appId) return fail(400, 10003, 'invalid param: app_id not found');
    if (body.app_secret !== core.appSecret) return fail(400, 10014, 'app secret invalid');
    const token = `t-emu-${hex(16)}`;
    core.state.tokens.add(token);
    // expire must exceed 180 s: the SDK caches until expire - 180 s.
    return { status: 200, body: { code: 0, msg: 'ok', tenant_access_token: token, expire: TOKEN_TTL_SEC } };
  });

  router.on('POST', '/callback/ws/endpoint', (ctx) => {
    const body = asObject(ctx.json);
    if (body.AppID !== core.appId || body.AppSecret !== core.appSecret) {
      // data must be an object: with data:null the SDK treats the failure as retryable.
      return { status: 200, body: { code: 514, msg: 'app id or app secret is invalid', data: {} } };
    }
    const wsUrl = core.issueWsUrl();
    return {
      status: 200,
      body: { code: 0, msg: 'ok', data: { URL: wsUrl, ClientConfig: core.clientConfig } },
    };
  });

  router.on('GET', '/open-apis/bot/v3/info', () => ({
    status: 200,
    body: {
      code: 0,
      msg: 'ok',
      bot: {
        activate_status: 2,
        app_name: core.botName,
        avatar_url: 'https://example.invalid/emu-bot.png',
        ip_white_list: [],
        open_id: core.botOpenId,
      },
    },
  }));

  router.on('GET', '/open-apis/contact/v3/users/:user_id', (ctx) => {
    const user = core.state.users.get(ctx.params.user_id!);
    if (!user) return fail(400, 41050, 'no user authority error');
    return ok({
      user: {
        open_id: user.openId,
        union_id: user.unionId,
        user_id: user.userId,
        name: user.name,
        en_name: user.name,
        avatar: { avatar_72: 'https://example.invalid/a72.png' },
      },
    });
  });
}
