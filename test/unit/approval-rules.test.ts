import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ApprovalRequest, SandboxMode } from '../../src/agents/types.js';
import {
  type ApprovalPlan,
  type ApprovalRuleSet,
  approvalRuleSetSchema,
  classifyApproval,
  commandWords,
  defaultApprovalRules,
  matchesPrefix,
  mayDecide,
  planApproval,
  type RiskClass,
} from '../../src/policy/approval-rules.js';

const WS = '/ws/a';
const CONTEXT = { workspace: WS, sandbox: 'workspace-write' as SandboxMode };

function command(text: string, extra: Partial<ApprovalRequest> = {}): ApprovalRequest {
  return {
    id: 'r1',
    kind: 'command',
    command: text,
    cwd: WS,
    network: false,
    outsideSandbox: false,
    ...extra,
  };
}

function argv(words: string[], extra: Partial<ApprovalRequest> = {}): ApprovalRequest {
  return { id: 'r1', kind: 'command', argv: words, cwd: WS, network: false, outsideSandbox: false, ...extra };
}

function fileChange(
  changes: NonNullable<ApprovalRequest['changes']>,
  extra: Partial<ApprovalRequest> = {},
): ApprovalRequest {
  return { id: 'r1', kind: 'file_change', changes, cwd: WS, network: false, outsideSandbox: false, ...extra };
}

describe('commandWords', () => {
  const cases: [string, string, string[] | undefined][] = [
    ['plain words', 'ls -la src', ['ls', '-la', 'src']],
    ['single quotes keep everything', `echo 'a  b $HOME "c"'`, ['echo', 'a  b $HOME "c"']],
    ['double quotes with escapes', `echo "say \\"hi\\" \\\\ \\x"`, ['echo', 'say "hi" \\ \\x']],
    ['backslash escapes outside quotes', 'echo a\\ b c\\;d', ['echo', 'a b', 'c;d']],
    ['adjacent quoted parts join', `echo 'a'"b"c`, ['echo', 'abc']],
    ['empty quoted word survives', `printf ''`, ['printf', '']],
    ['bash -lc wrapper', `/bin/bash -lc 'npm test -- --run'`, ['npm', 'test', '--', '--run']],
    ['bash -c wrapper', `bash -c "git status"`, ['git', 'status']],
    ['sh -l -c wrapper', `sh -l -c 'ls'`, ['ls']],
    ['zsh -lc wrapper', `zsh -lc 'pwd'`, ['pwd']],
    ['nested wrappers', `bash -lc "sh -c 'cargo build'"`, ['cargo', 'build']],
    ['wrapper with $0 args', `bash -c 'ls' name`, ['ls']],
    ['operators inside single quotes', `echo 'a && b; c | d > e'`, ['echo', 'a && b; c | d > e']],
    ['operators inside double quotes', `grep "a|b;c&&d" x`, ['grep', 'a|b;c&&d', 'x']],
    ['trailing newline', 'ls\n', ['ls']],
    ['comment hides the rest', 'ls # && rm -rf /', ['ls']],
    ['hash inside a word is no comment', 'echo a#b', ['echo', 'a#b']],
    ['&&', 'ls && rm x', undefined],
    ['||', 'ls || true', undefined],
    [';', 'ls; pwd', undefined],
    ['trailing ;', 'ls;', undefined],
    ['pipe', 'cat x | wc -l', undefined],
    ['background &', 'npm start &', undefined],
    ['newline between commands', 'ls\npwd', undefined],
    ['$( )', 'echo $(whoami)', undefined],
    ['$( ) inside double quotes still runs', 'echo "$(whoami)"', undefined],
    ['backticks', 'echo `whoami`', undefined],
    ['process substitution <(', 'diff <(ls a) <(ls b)', undefined],
    ['process substitution >(', 'tee >(wc -l)', undefined],
    ['redirect >', 'echo hi > x.txt', undefined],
    ['redirect >>', 'echo hi >> x.txt', undefined],
    ['redirect <', 'wc -l < x.txt', undefined],
    ['redirect 2>&1', 'npm test 2>&1', undefined],
    ['redirect &>', 'npm test &>log', undefined],
    ['wrapped redirect', `/bin/bash -lc 'echo hi > x.txt'`, undefined],
    ['wrapped compound', `bash -lc 'cd src && ls'`, undefined],
    ['subshell', '(ls)', undefined],
    ['unterminated single quote', `echo 'abc`, undefined],
    ['unterminated double quote', 'echo "abc', undefined],
    ['trailing backslash', 'echo abc\\', undefined],
    ['unclosed substitution', 'echo $(ls', undefined],
    ['empty', '   ', undefined],
  ];
  it.each(cases)('%s: %s', (_name, text, expected) => {
    expect(commandWords(command(text))).toEqual(expected);
  });

  it('prefers argv, unwrapping a shell wrapper in it', () => {
    expect(commandWords(argv(['npm', 'test'], { command: 'something else' }))).toEqual(['npm', 'test']);
    expect(commandWords(argv(['/bin/bash', '-lc', 'git log --oneline -n 5']))).toEqual([
      'git',
      'log',
      '--oneline',
      '-n',
      '5',
    ]);
    expect(commandWords(argv(['bash', '-c', 'ls && rm x']))).toBeUndefined();
    // argv words are what exec gets: no quotes or operators to read in them.
    expect(commandWords(argv(['echo', 'a && b', '$HOME']))).toEqual(['echo', 'a && b', '$HOME']);
  });

  it('is undefined for requests that are not commands', () => {
    expect(commandWords(fileChange([{ path: 'a.ts', change: 'update' }]))).toBeUndefined();
    expect(commandWords({ ...command('ls'), kind: 'permissions' })).toBeUndefined();
  });

  it('finds nothing special in names of Object.prototype', () => {
    for (const name of ['constructor', 'valueOf', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(classifyApproval(command(`${name} x`), CONTEXT)).toEqual({
        risk: 'write',
        hints: ['may change files'],
        alwaysPrefix: [name],
      });
    }
  });
});

describe('classifyApproval: commands', () => {
  const cases: [string, RiskClass, string[]][] = [
    // read
    ['ls -la', 'read', []],
    ['cat README.md', 'read', []],
    ['head -n 20 src/index.ts', 'read', []],
    ['tail -f log.txt', 'read', []],
    ['wc -l src/a.ts', 'read', []],
    ['grep -rn TODO src', 'read', []],
    ['rg --json foo', 'read', []],
    ['find . -name "*.ts"', 'read', []],
    ['pwd', 'read', []],
    ['echo hello', 'read', []],
    ['sort -u names.txt', 'read', []],
    ['date +%s', 'read', []],
    ['env', 'read', []],
    ['git status', 'read', []],
    ['git --no-pager diff HEAD~1', 'read', []],
    ['git log --oneline -n 5', 'read', []],
    ['git branch -a', 'read', []],
    ['git remote -v', 'read', []],
    ['git tag', 'read', []],
    ['npm ls --depth 0', 'read', []],
    ['/usr/bin/ls', 'read', []],
    ['cd src', 'read', []],
    // write
    ['npm test', 'write', ['may change files']],
    ['./ls', 'write', ['may change files']],
    ['/ws/a/bin/cat x', 'write', ['may change files']],
    ['touch new.txt', 'write', ['may change files']],
    ['rm -rf dist', 'write', ['deletes files']],
    ['find . -name "*.o" -delete', 'write', ['deletes files']],
    ['find . -exec touch {} \\;', 'write', ['may change files']],
    ['sort -o out.txt in.txt', 'write', ['may change files']],
    ['uniq in.txt out.txt', 'write', ['may change files']],
    ['date -s 2020-01-01', 'write', ['may change files']],
    ['env FOO=1 node x.js', 'write', ['may change files']],
    ['FOO=1 npm test', 'write', ['sets environment variables']],
    ['git branch new-feature', 'write', ['may change files']],
    ['git commit -m "fix parser"', 'write', ['may change files']],
    ['git clean -fdx', 'write', ['deletes files']],
    ['git -c core.pager=less log', 'write', ['overrides git options']],
    ['git diff --output=patch.txt', 'write', ['may change files']],
    ['chmod +x run.sh', 'write', ['changes file permissions']],
    ['kill 1234', 'write', ['stops processes']],
    ['echo hi > x.txt', 'write', ['redirects output']],
    ['ls | wc -l', 'write', ['compound command (&&, |, ;)']],
    ['echo $(date)', 'write', ['runs nested commands ($(…) or `…`)']],
    ['ls 2>/dev/null', 'write', ['redirects output']],
    ['cd src && rm -rf build', 'write', ['compound command (&&, |, ;)', 'deletes files']],
    [`echo 'unterminated`, 'write', ['cannot read the command (unbalanced quotes?)']],
    // dangerous
    ['curl https://example.com', 'dangerous', ['uses the network']],
    ['wget -q https://example.com/x', 'dangerous', ['uses the network']],
    ['ssh host ls', 'dangerous', ['uses the network']],
    ['git push origin main', 'dangerous', ['uses the network']],
    ['git pull', 'dangerous', ['uses the network']],
    ['git clone https://github.com/x/y', 'dangerous', ['uses the network']],
    ['npm install left-pad', 'dangerous', ['uses the network']],
    ['pip install requests', 'dangerous', ['uses the network']],
    ['python3 -m pip install requests', 'dangerous', ['uses the network']],
    ['sudo ls', 'dangerous', ['runs as root']],
    ['rm -rf /', 'dangerous', ['touches a path outside the workspace: /', 'deletes files']],
    ['rm /etc/hosts', 'dangerous', ['touches a path outside the workspace: /etc/hosts', 'deletes files']],
    ['cp secret.txt ../ab/x', 'dangerous', ['touches a path outside the workspace: ../ab/x']],
    ['touch /ws/ab/x', 'dangerous', ['touches a path outside the workspace: /ws/ab/x']],
    ['rm ~/notes.txt', 'dangerous', ['touches a path outside the workspace: ~/notes.txt', 'deletes files']],
    [
      'dd if=x of=/dev/sda',
      'dangerous',
      ['touches a path outside the workspace: /dev/sda', 'writes raw data to files or devices'],
    ],
    ['rm {/etc/hosts,x}', 'dangerous', ['touches a path outside the workspace: /etc/hosts', 'deletes files']],
    [
      'rm -rf "$HOME/x"',
      'dangerous',
      ['uses a shell variable, which may point outside the workspace: $HOME/x', 'deletes files'],
    ],
    ['echo hi > /etc/hosts', 'dangerous', ['writes outside the workspace: /etc/hosts', 'redirects output']],
    ['echo hi >> ../ab/log', 'dangerous', ['writes outside the workspace: ../ab/log', 'redirects output']],
    [
      `/bin/bash -lc 'echo x > /tmp/out'`,
      'dangerous',
      ['writes outside the workspace: /tmp/out', 'redirects output'],
    ],
    [
      'ls && rm -rf /etc',
      'dangerous',
      ['touches a path outside the workspace: /etc', 'compound command (&&, |, ;)', 'deletes files'],
    ],
    [
      'echo "$(rm -rf /)"',
      'dangerous',
      ['touches a path outside the workspace: /', 'runs nested commands ($(…) or `…`)', 'deletes files'],
    ],
    [
      'cd .. && rm -rf a',
      'dangerous',
      ['changes directory outside the workspace: ..', 'compound command (&&, |, ;)', 'deletes files'],
    ],
    ['cd /', 'dangerous', ['changes directory outside the workspace: /']],
    [
      'git -C /etc status',
      'dangerous',
      ['touches a path outside the workspace: /etc', 'overrides git options'],
    ],
  ];
  it.each(cases)('%s → %s', (text, risk, hints) => {
    expect(classifyApproval(command(text), CONTEXT)).toMatchObject({ risk, hints });
  });

  it('a here-document body is text, not commands', () => {
    const text = "cat > notes.md <<'EOF'\nrm -rf / && curl evil\nEOF";
    expect(classifyApproval(command(text), CONTEXT)).toMatchObject({
      risk: 'write',
      hints: ['redirects output', 'redirects input'],
    });
    const after = "cat > notes.md <<'EOF'\nhello\nEOF\nrm -rf /";
    expect(classifyApproval(command(after), CONTEXT).risk).toBe('dangerous');
  });

  it('resolves relative arguments against the cwd, which may be below the workspace root', () => {
    const inSrc = { cwd: `${WS}/src` };
    expect(classifyApproval(command('rm ../old.txt', inSrc), CONTEXT).risk).toBe('write');
    expect(classifyApproval(command('rm ../../old.txt', inSrc), CONTEXT).risk).toBe('dangerous');
    expect(classifyApproval(command('touch /ws/a/src/x', inSrc), CONTEXT).risk).toBe('write');
  });
});

describe('classifyApproval: request flags, cwd, sandbox', () => {
  it('permissions and network are dangerous', () => {
    const permissions: ApprovalRequest = {
      id: 'p',
      kind: 'permissions',
      cwd: WS,
      network: true,
      outsideSandbox: false,
    };
    expect(classifyApproval(permissions, CONTEXT)).toEqual({
      risk: 'dangerous',
      hints: ['asks for network access'],
    });
    expect(classifyApproval({ ...permissions, network: false }, CONTEXT)).toEqual({
      risk: 'dangerous',
      hints: ['asks for extra permissions'],
    });
    expect(classifyApproval(command('ls', { network: true }), CONTEXT)).toMatchObject({
      risk: 'dangerous',
      hints: ['asks for network access'],
    });
  });

  it('outside the sandbox is dangerous', () => {
    expect(classifyApproval(command('npm test', { outsideSandbox: true }), CONTEXT)).toMatchObject({
      risk: 'dangerous',
      hints: ['runs outside the sandbox'],
    });
  });

  it('a cwd outside the workspace is dangerous, by whole segments', () => {
    expect(classifyApproval(command('ls', { cwd: '/ws/ab' }), CONTEXT)).toMatchObject({
      risk: 'dangerous',
      hints: ['runs outside the workspace: /ws/ab'],
    });
    expect(classifyApproval(command('ls', { cwd: '/ws/a/../ab' }), CONTEXT).risk).toBe('dangerous');
    expect(classifyApproval(command('ls', { cwd: '/ws/a/sub/..' }), CONTEXT).risk).toBe('read');
    expect(classifyApproval(command('ls', { cwd: 'sub' }), CONTEXT).risk).toBe('read');
  });

  it('full access makes everything dangerous', () => {
    expect(classifyApproval(command('ls'), { workspace: WS, sandbox: 'danger-full-access' })).toMatchObject({
      risk: 'dangerous',
      hints: ['full access: no sandbox'],
    });
  });
});

describe('classifyApproval: file changes', () => {
  it('inside the workspace: write, with the count and deletes', () => {
    expect(classifyApproval(fileChange([{ path: 'src/a.ts', change: 'update' }]), CONTEXT)).toEqual({
      risk: 'write',
      hints: ['changes 1 file'],
    });
    expect(
      classifyApproval(
        fileChange([
          { path: `${WS}/a.ts`, change: 'add' },
          { path: 'b.ts', change: 'delete' },
        ]),
        CONTEXT,
      ),
    ).toEqual({ risk: 'write', hints: ['changes 2 files', 'deletes files'] });
  });

  it('outside the workspace: dangerous, naming up to three paths', () => {
    expect(classifyApproval(fileChange([{ path: '/ws/ab/x.ts', change: 'update' }]), CONTEXT)).toEqual({
      risk: 'dangerous',
      hints: ['writes outside the workspace: /ws/ab/x.ts', 'changes 1 file'],
    });
    expect(classifyApproval(fileChange([{ path: '../b/x.ts', change: 'add' }]), CONTEXT).hints[0]).toBe(
      'writes outside the workspace: ../b/x.ts',
    );
    // Relative to a cwd below the root, one `..` stays inside.
    expect(
      classifyApproval(fileChange([{ path: '../x.ts', change: 'add' }], { cwd: `${WS}/src` }), CONTEXT).risk,
    ).toBe('write');
    const many = ['/etc/a', '/etc/b', '/etc/c', '/etc/d', '/etc/e'].map((path) => ({
      path,
      change: 'update' as const,
    }));
    expect(classifyApproval(fileChange(many), CONTEXT).hints[0]).toBe(
      'writes outside the workspace: /etc/a, /etc/b, /etc/c and 2 more',
    );
  });

  it('never offers a rule', () => {
    expect(
      classifyApproval(fileChange([{ path: 'a', change: 'update' }]), CONTEXT).alwaysPrefix,
    ).toBeUndefined();
  });
});

describe('alwaysPrefix', () => {
  const cases: [string, string[] | undefined][] = [
    ['npm test -- --run', ['npm', 'test']],
    ['git push origin main', ['git', 'push']],
    ['git status', ['git', 'status']],
    ['ls -la', ['ls']],
    ['/usr/bin/git log', ['/usr/bin/git', 'log']],
    ['cargo build --release', ['cargo', 'build']],
    ['make test', ['make', 'test']],
    ['npx vitest run', ['npx', 'vitest']],
    ['npm run lint -- --fix', ['npm', 'run', 'lint']],
    ['python -m pytest -q', ['python', '-m', 'pytest']],
    ['node scripts/build.js', ['node', 'scripts/build.js']],
    ['./gradlew test', ['./gradlew']],
    ['touch a.txt', ['touch']],
    [`/bin/bash -lc 'npm test'`, ['npm', 'test']],
    // No rule may be made:
    ['git -C sub status', undefined],
    ['git --no-pager log', undefined],
    ['make', undefined],
    ['npm run', undefined],
    ['python -c "print(1)"', undefined],
    ['node -e "1"', undefined],
    ['sudo npm test', undefined],
    ['env FOO=1 npm test', undefined],
    ['FOO=1 npm test', undefined],
    ['xargs rm', undefined],
    ['find . -delete', undefined],
    ['timeout 5 npm test', undefined],
    ['$RUNNER test', undefined],
    ['npm test && npm run build', undefined],
    ['npm test > out.txt', undefined],
    ['rm /etc/hosts', undefined],
    ['ls', ['ls']],
  ];
  it.each(cases)('%s → %j', (text, prefix) => {
    expect(classifyApproval(command(text), CONTEXT).alwaysPrefix).toEqual(prefix);
  });

  it('none for a cwd outside the workspace or permissions', () => {
    expect(
      classifyApproval(command('npm test', { cwd: '/elsewhere' }), CONTEXT).alwaysPrefix,
    ).toBeUndefined();
    const permissions: ApprovalRequest = {
      id: 'p',
      kind: 'permissions',
      cwd: WS,
      network: true,
      outsideSandbox: false,
    };
    expect(classifyApproval(permissions, CONTEXT).alwaysPrefix).toBeUndefined();
  });

  it('kept for escalations: a rule is how people stop being asked about git push', () => {
    expect(classifyApproval(command('git push', { outsideSandbox: true }), CONTEXT).alwaysPrefix).toEqual([
      'git',
      'push',
    ]);
  });
});

describe('approvalRuleSetSchema', () => {
  it('fills defaults and refuses a dangerous level below admin', () => {
    expect(approvalRuleSetSchema.parse({})).toEqual(defaultApprovalRules);
    expect(approvalRuleSetSchema.parse({ write: 'auto' })).toEqual({
      ...defaultApprovalRules,
      write: 'auto',
    });
    expect(approvalRuleSetSchema.safeParse({ dangerous: 'requester' }).success).toBe(false);
    expect(approvalRuleSetSchema.safeParse({ read: 'anyone' }).success).toBe(false);
    expect(approvalRuleSetSchema.safeParse({ extra: 1 }).success).toBe(false);
  });
});

describe('matchesPrefix', () => {
  it('matches element-wise at the start, never with an empty prefix', () => {
    expect(matchesPrefix(['npm', 'test', '--run'], ['npm', 'test'])).toBe(true);
    expect(matchesPrefix(['npm', 'test'], ['npm', 'test'])).toBe(true);
    expect(matchesPrefix(['npm', 'testing'], ['npm', 'test'])).toBe(false);
    expect(matchesPrefix(['npm'], ['npm', 'test'])).toBe(false);
    expect(matchesPrefix(['npx', 'test'], ['npm'])).toBe(false);
    expect(matchesPrefix(['ls'], [])).toBe(false);
  });
});

describe('planApproval', () => {
  const base = {
    ...CONTEXT,
    rules: defaultApprovalRules,
    allowPrefixes: [] as string[][],
    inGroup: false,
    twoPersonInGroups: true,
  };

  it('auto-approves reads by default and asks the requester for writes, the owner for danger', () => {
    expect(planApproval(command('git status'), base)).toMatchObject({
      kind: 'auto',
      note: 'auto-approved: read-only command',
    });
    expect(planApproval(command('npm test'), base)).toMatchObject({
      kind: 'ask',
      approvers: 'requester',
      twoPerson: false,
    });
    expect(planApproval(command('git push'), base)).toMatchObject({ kind: 'ask', approvers: 'owner' });
  });

  it('follows a workspace rule set', () => {
    const rules: ApprovalRuleSet = { read: 'requester', write: 'auto', dangerous: 'admin' };
    expect(planApproval(command('ls'), { ...base, rules })).toMatchObject({
      kind: 'ask',
      approvers: 'requester',
    });
    expect(planApproval(command('npm test'), { ...base, rules })).toMatchObject({
      kind: 'auto',
      note: 'auto-approved: this workspace allows changes without asking',
    });
    expect(planApproval(command('curl x'), { ...base, rules })).toMatchObject({
      kind: 'ask',
      approvers: 'admin',
    });
  });

  it('never lets dangerous requests below the dangerous level', () => {
    const loose = { read: 'auto', write: 'auto', dangerous: 'auto' } as unknown as ApprovalRuleSet;
    expect(planApproval(command('sudo ls'), { ...base, rules: loose })).toMatchObject({
      kind: 'ask',
      approvers: 'admin',
    });
  });

  it('auto-approves a command a stored prefix matches, naming the longest matching prefix', () => {
    const allowPrefixes = [['npm'], ['npm', 'test'], ['git', 'push']];
    expect(planApproval(command('npm test -- --run'), { ...base, allowPrefixes })).toMatchObject({
      kind: 'auto',
      note: 'auto-approved: always allowed here (npm test)',
    });
    // Network and escalation are what such a rule is made for.
    expect(
      planApproval(command('git push', { outsideSandbox: true }), { ...base, allowPrefixes }),
    ).toMatchObject({ kind: 'auto', note: 'auto-approved: always allowed here (git push)' });
    expect(planApproval(command('npx vitest'), { ...base, allowPrefixes }).kind).toBe('ask');
  });

  it('a stored prefix never covers what could not make a rule', () => {
    const allowPrefixes = [['rm'], ['npm', 'test'], ['sudo'], ['env'], ['bash']];
    for (const text of [
      'rm -rf /etc', // reaches outside the workspace
      'rm -rf ../other',
      'npm test && rm -rf x', // compound
      'npm test > /tmp/x',
      'sudo rm x',
      'env rm x',
      'bash -c "npm test; rm x"',
    ]) {
      expect(planApproval(command(text), { ...base, allowPrefixes }).kind, text).toBe('ask');
    }
    expect(planApproval(command('npm test', { cwd: '/elsewhere' }), { ...base, allowPrefixes }).kind).toBe(
      'ask',
    );
    expect(
      planApproval(fileChange([{ path: 'rm', change: 'update' }]), { ...base, allowPrefixes: [['rm']] }).kind,
    ).toBe('ask');
  });

  it('two-person only for dangerous requests in groups that want it', () => {
    const group = { ...base, inGroup: true };
    expect(planApproval(command('git push'), group)).toMatchObject({ kind: 'ask', twoPerson: true });
    expect(planApproval(command('npm test'), group)).toMatchObject({ kind: 'ask', twoPerson: false });
    expect(planApproval(command('git push'), { ...group, twoPersonInGroups: false })).toMatchObject({
      twoPerson: false,
    });
    expect(planApproval(command('git push'), base)).toMatchObject({ twoPerson: false });
  });
});

describe('mayDecide', () => {
  const classification = { risk: 'dangerous' as const, hints: ['runs outside the sandbox'] };
  const plan = (
    approvers: 'requester' | 'admin' | 'owner',
    twoPerson = false,
  ): Extract<ApprovalPlan, { kind: 'ask' }> => ({
    kind: 'ask',
    approvers,
    twoPerson,
    classification,
  });
  const REQUESTER = 'ou_req';
  type Role = 'owner' | 'admin' | 'user' | undefined;
  const who = (operatorId: string, operatorRole: Role) => ({
    operatorId,
    operatorRole,
    requesterId: REQUESTER,
  });

  const cases: ['requester' | 'admin' | 'owner', boolean, string, Role, string | undefined][] = [
    ['requester', false, REQUESTER, 'user', undefined],
    ['requester', false, 'ou_other', 'user', 'Only the person who asked or an admin can approve this.'],
    ['requester', false, 'ou_other', undefined, 'Only the person who asked or an admin can approve this.'],
    ['requester', false, 'ou_other', 'admin', undefined],
    ['requester', false, 'ou_other', 'owner', undefined],
    ['admin', false, REQUESTER, 'user', 'Only an admin can approve this: runs outside the sandbox.'],
    ['admin', false, 'ou_other', 'admin', undefined],
    ['admin', false, 'ou_other', 'owner', undefined],
    ['owner', false, 'ou_other', 'admin', 'Only the owner can approve this: runs outside the sandbox.'],
    ['owner', false, 'ou_other', 'user', 'Only the owner can approve this: runs outside the sandbox.'],
    ['owner', false, 'ou_owner', 'owner', undefined],
    ['owner', false, REQUESTER, 'owner', undefined],
    [
      'owner',
      true,
      REQUESTER,
      'owner',
      'Two-person rule: someone other than the requester must approve this.',
    ],
    ['owner', true, 'ou_owner', 'owner', undefined],
    [
      'admin',
      true,
      REQUESTER,
      'admin',
      'Two-person rule: someone other than the requester must approve this.',
    ],
    ['admin', true, 'ou_other', 'admin', undefined],
    ['admin', true, 'ou_other', 'user', 'Only an admin can approve this: runs outside the sandbox.'],
  ];
  it.each(cases)('%s (two-person %s) by %s as %s', (approvers, twoPerson, operator, role, reason) => {
    const result = mayDecide(plan(approvers, twoPerson), who(operator, role));
    expect(result).toEqual(reason === undefined ? { ok: true } : { ok: false, reason });
  });
});

describe('properties', () => {
  // Words that never hold an operator, quote or expansion themselves.
  const word = fc.stringMatching(/^[a-zA-Z0-9_./-]{1,8}$/);
  const words = fc.array(word, { minLength: 1, maxLength: 4 }).map((w) => w.join(' '));
  const operator = fc.constantFrom('&&', ';', '|', ' && ', ' ; ', ' | ', '||');
  const compound = fc.tuple(words, operator, words).map(([a, op, b]) => `${a}${op}${b}`);
  const wrapped = fc.oneof(
    compound,
    compound.map((c) => `/bin/bash -lc '${c}'`),
    compound.map((c) => `bash -c "${c}"`),
  );

  it('an unquoted &&, ; or | never yields words or a rule', () => {
    fc.assert(
      fc.property(wrapped, (text) => {
        expect(commandWords(command(text))).toBeUndefined();
        expect(classifyApproval(command(text), CONTEXT).alwaysPrefix).toBeUndefined();
        expect(classifyApproval(command(text), CONTEXT).risk).not.toBe('read');
      }),
    );
  });

  it('a stored prefix never auto-approves a compound command', () => {
    fc.assert(
      fc.property(
        compound,
        fc.array(fc.array(word, { minLength: 1, maxLength: 3 }), { maxLength: 5 }),
        (text, stored) => {
          // Every leading run of the command's own words is stored too, the likeliest false match.
          const first = text.split(/&&|;|\||\s+/).filter(Boolean);
          const allowPrefixes = [...stored, ...first.map((_, k) => first.slice(0, k + 1))];
          const rules: ApprovalRuleSet = { read: 'requester', write: 'requester', dangerous: 'owner' };
          const plan = planApproval(command(text), {
            ...CONTEXT,
            rules,
            allowPrefixes,
            inGroup: false,
            twoPersonInGroups: false,
          });
          expect(plan.kind).toBe('ask');
        },
      ),
    );
  });

  it('any text classifies without throwing, with hints for anything not read-only', () => {
    const shellish = fc.stringMatching(/^[a-z ./~$(){}'"`\\;&|<>#=\n-]{0,40}$/);
    fc.assert(
      fc.property(fc.oneof(fc.string(), shellish), (text) => {
        const classification = classifyApproval(command(text), CONTEXT);
        if (classification.risk !== 'read') expect(classification.hints.length).toBeGreaterThan(0);
        // A rule is only offered for one simple command, and starts with its words.
        const words = commandWords(command(text));
        if (classification.alwaysPrefix)
          expect(words && matchesPrefix(words, classification.alwaysPrefix)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('quoting an operator keeps the command simple', () => {
    fc.assert(
      fc.property(word, operator, word, (a, op, b) => {
        expect(commandWords(command(`echo '${a}${op}${b}'`))).toEqual(['echo', `${a}${op}${b}`]);
      }),
    );
  });
});
