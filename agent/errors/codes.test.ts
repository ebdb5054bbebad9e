/**
 * The agent's error-code table: docs/errors.md prints exactly it, codes are unique and prefixed by family, and an
 * error built through each family's own constructors carries a code whose row names its class.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StateError, TopicError, UpstreamTimeoutError } from '../../handlers/api';
import { ConfigError } from '../config/errors';
import { HealthErrors } from '../health/errors';
import { LifecycleErrors } from '../lifecycle/errors';
import * as outboxErrors from '../outbox/errors';
import { ClaimError, PLUGIN_ERROR_CODES, PluginError, type PluginErrorCode } from '../plugins/errors';
import { SessionErrors } from '../session/errors';
import { OtaErrors } from '../ota/errors';
import { AGENT_ERROR_TABLE, agentErrorInfo, isAgentError } from './codes';

/** Checks that `err` carries a code of the table whose row names err's class (or a superclass of it). */
function expectListed(err: Error): void {
  const row = agentErrorInfo((err as { code?: string }).code ?? '');
  expect(row).toBeDefined();
  expect(err).toBeInstanceOf(row?.errorClass as never);
  expect(isAgentError(err)).toBe(true);
}

/** An argument every constructor can format: a string, a list of topics, a cause with a message and an errno. */
const ARG = Object.assign(['x'], { message: 'cause', code: 'EX', toString: () => 'x' });

/** Calls every constructor of a family's table (arguments do not matter for the code) and returns the codes. */
function codesOf(table: Record<string, (...args: never[]) => Error>): string[] {
  return Object.values(table).map((make) => {
    const err = (make as (...a: unknown[]) => Error)(ARG, ARG, ARG, ARG);
    expectListed(err);
    return (err as unknown as { code: string }).code;
  });
}

const familyCodes = (family: string) => AGENT_ERROR_TABLE.filter((r) => r.family === family).map((r) => r.code);

describe('agent error codes', () => {
  it('docs/errors.md lists exactly the table, in order, with each class', () => {
    const md = readFileSync(join(__dirname, '..', '..', 'docs', 'errors.md'), 'utf8');
    const rows = md
      .split('\n')
      .map((l) => /^\| `([A-Z0-9_]+)` \| `(\w+)` \| (.+) \|$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ code: m[1], errorClass: m[2], meaning: m[3] }));
    expect(rows).toEqual(AGENT_ERROR_TABLE.map((r) => ({ code: r.code, errorClass: r.errorClass.name, meaning: r.meaning })));
  });

  it('has unique codes, each prefixed by its family (the session keeps AGENT_)', () => {
    const codes = AGENT_ERROR_TABLE.map((r) => r.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const r of AGENT_ERROR_TABLE) expect(r.code.startsWith(r.family === 'SESSION' ? 'AGENT_' : `${r.family}_`)).toBe(true);
  });

  it("lists every code the session's, health listener's and lifecycle's constructors produce, and no other", () => {
    expect(codesOf(SessionErrors).sort()).toEqual(familyCodes('SESSION').sort());
    expect(codesOf(HealthErrors).sort()).toEqual(familyCodes('HEALTH').sort());
    expect(codesOf(LifecycleErrors).sort()).toEqual(familyCodes('LIFECYCLE').sort());
    expect(codesOf(OtaErrors).sort()).toEqual(familyCodes('OTA').sort());
  });

  it('gives every outbox error class its own code', () => {
    type AnyOutboxClass = new (...a: unknown[]) => outboxErrors.OutboxError;
    const classes = (Object.values(outboxErrors) as unknown[]).filter(
      (v): v is AnyOutboxClass => typeof v === 'function' && (v as AnyOutboxClass).prototype instanceof outboxErrors.OutboxError,
    );
    const codes = classes.map((C) => {
      const err = new C('x', 1, 2, 'y', 'z');
      expectListed(err);
      return err.code;
    });
    expect(codes.sort()).toEqual(familyCodes('OUTBOX').sort());
  });

  it('gives the plugin host, upstream and configuration errors their codes', () => {
    for (const code of Object.keys(PLUGIN_ERROR_CODES) as PluginErrorCode[]) expectListed(code === 'PLUGIN_CLAIM_INVALID' ? new ClaimError('x') : new PluginError(code, 'x'));
    expect(new ClaimError('x')).toBeInstanceOf(PluginError);
    expectListed(new UpstreamTimeoutError('1', 't', 5));
    expectListed(new TopicError('x'));
    expectListed(new StateError('PLUGIN_STATE_INVALID', 'x'));
    expectListed(new StateError('PLUGIN_STATE_CLOSED', 'x'));
    expectListed(new ConfigError('agent.config.json', 'broker.url', 'a URL', '1'));
  });

  it('recognises an agent error by its code, whichever copy of the module built it', () => {
    const lookAlike = Object.assign(new Error('no reply'), { name: 'UpstreamTimeoutError', code: 'UPSTREAM_TIMEOUT' });
    expect(isAgentError(lookAlike)).toBe(true);
    expect(isAgentError(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe(false);
    expect(isAgentError({ code: 460 })).toBe(false);
    expect(isAgentError(undefined)).toBe(false);
  });
});
