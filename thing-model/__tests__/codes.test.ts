/**
 * The code table, its error classes, CODES.md staying in sync with it, and the table staying the only place the
 * agent and the simulator take Alink codes and method names from.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import {
  AlinkCodes,
  AlinkError,
  CloudReplyError,
  CODE_TABLE,
  codeInfo,
  HandlerError,
  isDeviceDefinedCode,
  isDeviceReplyCode,
  ThrottleError,
  TslError,
  ValidationError,
  type FieldError,
} from '..';
import * as codesModule from '../codes';

describe('code table', () => {
  it('has one row per named code, unique and in code order, each with a meaning and its source', () => {
    expect(CODE_TABLE.map((c) => c.name).sort()).toEqual(Object.keys(AlinkCodes).sort());
    const codes = CODE_TABLE.map((c) => c.code);
    expect(new Set(codes).size).toBe(codes.length);
    expect([...codes].sort((a, b) => a - b)).toEqual(codes);
    for (const c of CODE_TABLE) {
      expect(c.meaning.length).toBeGreaterThan(5);
      expect(c.source).toMatch(/^\[[A-Za-z0-9-]+\]/);
      expect(c.source).toMatch(/ [a-z0-9-]+\.md#[a-z0-9-]+$/);
    }
  });

  it('marks as sent by a device exactly the codes isDeviceReplyCode accepts', () => {
    for (const c of CODE_TABLE) expect(isDeviceReplyCode(c.code)).toBe(c.sender !== 'cloud');
  });

  it('looks rows up by code; device-defined codes inside the range have none', () => {
    for (const c of CODE_TABLE) expect(codeInfo(c.code)).toBe(c);
    expect(codeInfo(105555)).toBeUndefined();
  });

  it('knows which codes a device may send', () => {
    for (const c of [200, 400, 429, 460, 100000, 105555, 110000]) expect(isDeviceReplyCode(c)).toBe(true);
    for (const c of [401, 500, 6300, 99999, 110001, 100000.5]) expect(isDeviceReplyCode(c)).toBe(false);
    expect(isDeviceDefinedCode(100000.5)).toBe(false);
  });

  it('CODES.md prints exactly the table', () => {
    const md = readFileSync(join(__dirname, '..', 'CODES.md'), 'utf8');
    const rows = md
      .split('\n')
      .map((l) => /^\| (\d+) \| `([A-Z0-9_]+)` \| (device|cloud|both) \| (.+) \| (.+) \|$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ code: Number(m[1]), name: m[2], sender: m[3], meaning: m[4], source: m[5] }));
    expect(rows).toEqual(CODE_TABLE.map((c) => ({ code: c.code, name: c.name, sender: c.sender, meaning: c.meaning, source: c.source })));
  });
});

describe('error classes', () => {
  const fe: FieldError = { field: 'A', reason: 'range', expected: 'integer in [0, 1]', received: '2', message: 'A: expected integer in [0, 1], received 2' };

  it('each family carries its code and extends AlinkError', () => {
    const v = new ValidationError([fe, { ...fe, field: 'B', message: 'B: x' }]);
    expect([v.code, v.message, v.errors.length, v.name]).toEqual([460, 'A: expected integer in [0, 1], received 2; B: x', 2, 'ValidationError']);
    expect(new ValidationError([fe], 'custom').message).toBe('custom');
    expect(new ThrottleError().code).toBe(429);
    expect(new CloudReplyError(6204, 'device disabled').meaning).toBe('device disabled');
    expect(new CloudReplyError(123456, 'odd').meaning).toBeUndefined();
    const t = new TslError([{ path: 'properties[0].identifier', message: 'missing' }]);
    expect([t.code, t.problems.length, t.message]).toEqual([6317, 1, 'malformed Thing Model (1 problem): properties[0].identifier: missing']);
    for (const e of [v, new ThrottleError(), new HandlerError('x'), new CloudReplyError(500, 'x'), t]) {
      expect(e).toBeInstanceOf(AlinkError);
      expect(e).toBeInstanceOf(Error);
    }
  });

  it('HandlerError takes 400 or a device-defined code, and nothing else', () => {
    expect(new HandlerError('sensor offline').code).toBe(400);
    expect(new HandlerError('sensor offline', 100042).code).toBe(100042);
    const bad = new HandlerError('pretends to be the cloud', 6300);
    expect([bad.code, bad.requestedCode]).toEqual([400, 6300]);
    expect(new HandlerError('no', 460).code).toBe(400);
  });
});

/**
 * The one table is only the one table if nobody writes the codes out: agent/ and simulator/ source (tests aside)
 * take Alink codes from `AlinkCodes` and method names from `AlinkMethods`/`serviceMethod`/`eventMethod`. The scan
 * parses each file with the TypeScript compiler, so comments never count, and flags a number only where it is
 * a code: a `code` property or variable, a comparison with something named `code`, a `case` of a switch on a
 * code, an argument of a reply or error function (`replier.error`, `errorReply`, `new XxxError`), or a
 * `"code":NNN` written into a JSON string.
 */
describe('no bare Alink code or method literal outside thing-model/', () => {
  const ROOT = join(__dirname, '..', '..');
  const ALINK_CODES = new Set(CODE_TABLE.map((c) => c.code));
  const isAlinkCode = (n: number) => ALINK_CODES.has(n) || isDeviceDefinedCode(n);
  /** The classes that take an Alink code (AlinkError and its families), read from the module, not listed by hand. */
  const ALINK_ERROR_CLASSES = new Set(
    Object.entries(codesModule)
      .filter(([, v]) => typeof v === 'function' && (v === AlinkError || v.prototype instanceof AlinkError))
      .map(([k]) => k),
  );
  const METHOD = /\bthing\.(service|event)\./;
  const HAND_WRITTEN_CODE = /"code"\s*:\s*\d/;
  const isCodeName = (name: string) => name === 'code' || /Code$/.test(name);
  /** Functions whose arguments include an Alink code: the error classes, the router's reply helpers. */
  const isReplyOrErrorCall = (name: string) => ALINK_ERROR_CLASSES.has(name) || /^(error|answerError)$/.test(name) || /reply/i.test(name);

  function nameOf(node: ts.Node): string | undefined {
    if (ts.isIdentifier(node) || ts.isPrivateIdentifier(node)) return node.text;
    if (ts.isPropertyAccessExpression(node)) return node.name.text;
    if (ts.isElementAccessExpression(node) && ts.isStringLiteral(node.argumentExpression)) return node.argumentExpression.text;
    return undefined;
  }

  /** Walks up through parentheses, conditionals and `??`/`||` to the expression that gives the value its role. */
  function role(node: ts.Node): ts.Node {
    let n = node;
    for (;;) {
      const p = n.parent;
      if (ts.isParenthesizedExpression(p) || (ts.isConditionalExpression(p) && p.condition !== n)) n = p;
      else if (ts.isBinaryExpression(p) && (p.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken || p.operatorToken.kind === ts.SyntaxKind.BarBarToken)) n = p;
      else return n;
    }
  }

  const COMPARISONS = new Set([
    ts.SyntaxKind.EqualsEqualsEqualsToken,
    ts.SyntaxKind.ExclamationEqualsEqualsToken,
    ts.SyntaxKind.EqualsEqualsToken,
    ts.SyntaxKind.ExclamationEqualsToken,
    ts.SyntaxKind.LessThanToken,
    ts.SyntaxKind.LessThanEqualsToken,
    ts.SyntaxKind.GreaterThanToken,
    ts.SyntaxKind.GreaterThanEqualsToken,
  ]);

  /** Why the numeric literal `lit` sits in a code position, or undefined. */
  function codePosition(lit: ts.NumericLiteral): string | undefined {
    const n = role(lit);
    const p = n.parent;
    if (ts.isPropertyAssignment(p) && p.initializer === n && isCodeName(nameOf(p.name) ?? '')) return `${nameOf(p.name)}: property`;
    if (ts.isVariableDeclaration(p) && p.initializer === n && isCodeName(nameOf(p.name) ?? '')) return `${nameOf(p.name)} = variable`;
    if (ts.isBinaryExpression(p) && COMPARISONS.has(p.operatorToken.kind)) {
      const other = p.left === n ? p.right : p.left;
      if (isCodeName(nameOf(other) ?? '')) return 'comparison with a code';
    }
    if (ts.isCaseClause(p) && ts.isSwitchStatement(p.parent.parent) && isCodeName(nameOf(p.parent.parent.expression) ?? '')) return 'case of a switch on a code';
    if ((ts.isCallExpression(p) || ts.isNewExpression(p)) && p.arguments?.includes(n as ts.Expression) && isReplyOrErrorCall(nameOf(p.expression) ?? '')) {
      return `argument of ${nameOf(p.expression)}()`;
    }
    return undefined;
  }

  /** Every bare Alink code or method literal in `text` (a file named `file`), as `file:line: what`. */
  function scan(file: string, text: string): string[] {
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    const found: string[] = [];
    const at = (node: ts.Node, what: string) => found.push(`${file}:${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1}: ${what}`);
    const visit = (node: ts.Node): void => {
      if (ts.isNumericLiteral(node) && isAlinkCode(Number(node.text))) {
        const why = codePosition(node);
        if (why) at(node, `Alink code ${node.text} written out (${why}); use AlinkCodes`);
      } else if (ts.isStringLiteralLike(node) || ts.isTemplateHead(node) || ts.isTemplateMiddle(node) || ts.isTemplateTail(node)) {
        if (METHOD.test(node.text)) at(node, `Alink method literal ${JSON.stringify(node.text)}; use AlinkMethods, serviceMethod or eventMethod`);
        if (HAND_WRITTEN_CODE.test(node.text)) at(node, `Alink code written into ${JSON.stringify(node.text)}; interpolate AlinkCodes`);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
    return found;
  }

  function sourceFiles(dir: string): string[] {
    const out: string[] = [];
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) {
        if (!['__tests__', '__fixtures__', 'node_modules'].includes(e.name) && rel !== 'simulator/test') out.push(...sourceFiles(rel));
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
    }
    return out;
  }

  it('finds each kind of literal it is meant to find, and nothing in comments or unrelated numbers', () => {
    const bad = [
      `replier.error(topic, id, 460, 'bad');`,
      `const reply = { id, code: 200, data: {} };`,
      `const code = busy ? 429 : 400;`,
      `if (r.code !== 200) throw new Error('x');`,
      `switch (reply.code) { case 6100: break; }`,
      `throw new HandlerError('no', 100042);`,
      `return errorReply(id, 400, message);`,
      `const m = 'thing.service.property.set';`,
      'const m = `thing.event.${id}.post`;',
      'const json = `{"id":"${id}","code":200,"data":{}}`;',
    ];
    expect(bad.filter((line) => scan('x.ts', line).length === 0)).toEqual([]);
    const good = [
      `// answers 460 on 'thing.service.property.set'`,
      `/** code: 400 */ const x = 1;`,
      `payload.toString('utf8', 0, 200);`,
      `res.writeHead(200, headers); http('MissingParameter', 400, 'x'); new ApiError('Busy', 429, 'x');`,
      `const status = 429; const limit = { maxRows: 100000 };`,
      `replier.error(topic, id, AlinkCodes.PARAM_ERROR, 'bad');`,
      `const code = 'iot.thing.PropertyReadOnly';`,
    ];
    expect(good.flatMap((line) => scan('x.ts', line))).toEqual([]);
  });

  it('finds none in agent/ and simulator/ source', () => {
    const files = [...sourceFiles('agent'), ...sourceFiles('simulator')];
    expect(files.length).toBeGreaterThan(50);
    expect(files.flatMap((f) => scan(f, readFileSync(join(ROOT, f), 'utf8')))).toEqual([]);
  });
});
