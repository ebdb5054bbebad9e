/**
 * The listener over real HTTP on 127.0.0.1, with real metrics and a ConnectionHealth as the health source.
 */
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { captureLog } from '../../test/agent-support';
import { waitFor } from '../../test/helpers/brokers';
import { ConnectionHealth } from './connection';
import { AgentMetrics } from './metrics';
import { HealthServer } from './server';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(url: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer in 5000 ms`)));
    req.on('error', reject);
    req.end();
  });
}

describe('HealthServer', () => {
  const servers: HealthServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });
  const start = async (opts: Partial<ConstructorParameters<typeof HealthServer>[0]> = {}) => {
    const log = captureLog();
    const metrics = new AgentMetrics({ processMetrics: false });
    const connection = new ConnectionHealth({ brokerUrl: 'mqtt://127.0.0.1:1883' });
    const server = new HealthServer({ port: 0, metrics, health: () => connection.report(), logger: log.logger, ...opts });
    servers.push(server);
    const address = await server.start();
    return { server, address, metrics, connection, log };
  };

  it('binds 127.0.0.1 on a free port', async () => {
    const { address, server, log } = await start();
    expect(address.host).toBe('127.0.0.1');
    expect(address.port).toBeGreaterThan(0);
    expect(address.url).toBe(`http://127.0.0.1:${address.port}`);
    expect(server.address).toEqual(address);
    expect(await server.start()).toBe(address);
    expect(log.find('health and metrics on')).toEqual([expect.objectContaining({ level: 30, url: address.url })]);
  });

  it('answers /healthz 503 with the reason while disconnected and 200 once connected', async () => {
    const { address, connection } = await start();
    connection.update({ state: 'reconnecting', error: new Error('connect ECONNREFUSED 127.0.0.1:1883') });
    const down = await get(`${address.url}/healthz`);
    expect(down.status).toBe(503);
    expect(down.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(down.headers['cache-control']).toBe('no-store');
    const body = JSON.parse(down.body) as Record<string, unknown>;
    expect(Object.keys(body).slice(0, 2)).toEqual(['status', 'reason']);
    expect(body).toMatchObject({ status: 'unhealthy', state: 'reconnecting', broker: 'mqtt://127.0.0.1:1883' });
    expect(body.reason).toMatch(/^disconnected since \d{4}-\d\d-\d\dT[0-9:.]+Z: connect ECONNREFUSED 127\.0\.0\.1:1883$/);

    connection.update({ state: 'connected' });
    const up = await get(`${address.url}/healthz`);
    expect(up.status).toBe(200);
    expect(JSON.parse(up.body)).toMatchObject({ status: 'ok', state: 'connected' });
    const head = await get(`${address.url}/healthz`, 'HEAD');
    expect(head).toMatchObject({ status: 200, body: '' });
  });

  it('answers 503 when the health source throws, and logs it', async () => {
    const { address, log } = await start({
      health: async () => {
        throw new Error('outbox database is locked');
      },
    });
    const r = await get(`${address.url}/healthz`);
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toEqual({ status: 'unhealthy', reason: 'health check failed: outbox database is locked' });
    expect(log.find('health source threw')).toEqual([expect.objectContaining({ level: 50 })]);
  });

  it('serves /metrics in Prometheus text format with what the agent counted', async () => {
    const { address, metrics } = await start();
    metrics.setConnection('connected');
    metrics.messageIn('property_set');
    metrics.rejection(460);
    metrics.setOutboxDepth(3, 900);
    const r = await get(`${address.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(r.body).toContain('alink_agent_connection_state{state="connected"} 1\n');
    expect(r.body).toContain('alink_agent_messages_in_total{kind="property_set"} 1\n');
    expect(r.body).toContain('alink_agent_rejections_total{code="460"} 1\n');
    expect(r.body).toContain('alink_agent_outbox_rows 3\n');
    expect(r.body).toContain('alink_agent_outbox_bytes 900\n');
  });

  it('keeps two listeners in one process apart', async () => {
    const a = await start();
    const b = await start();
    a.metrics.messageOut('event_post');
    a.metrics.messageOut('event_post');
    b.metrics.messageOut('event_post');
    expect((await get(`${a.address.url}/metrics`)).body).toContain('alink_agent_messages_out_total{kind="event_post"} 2\n');
    expect((await get(`${b.address.url}/metrics`)).body).toContain('alink_agent_messages_out_total{kind="event_post"} 1\n');
  });

  it('refuses other paths and methods', async () => {
    const { address } = await start();
    const missing = await get(`${address.url}/admin`);
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toEqual({ error: 'no such path: /admin; try /healthz or /metrics' });
    const post = await get(`${address.url}/healthz`, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
  });

  it('rejects with a coded error naming the address when the port is taken', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const { logger } = captureLog();
      const s = new HealthServer({ port, metrics: new AgentMetrics({ processMetrics: false }), health: () => ({ healthy: true }), logger });
      await expect(s.start()).rejects.toMatchObject({
        code: 'HEALTH_LISTEN_FAILED',
        details: { host: '127.0.0.1', port, errno: 'EADDRINUSE' },
        message: expect.stringMatching(new RegExp(`^health.host/health.port: cannot listen on 127.0.0.1:${port}: EADDRINUSE`)),
      });
      expect(s.address).toBeUndefined();
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('stops promptly, cutting a request still in flight', async () => {
    let asked = false;
    let answer: (r: { healthy: boolean }) => void = () => undefined;
    const { server, address } = await start({
      health: () =>
        new Promise((resolve) => {
          asked = true;
          answer = resolve;
        }),
    });
    const pending = get(`${address.url}/healthz`);
    await waitFor(() => asked, 5000, 'the health source to be asked');
    const t0 = Date.now();
    await server.stop();
    expect(Date.now() - t0).toBeLessThan(1000);
    await expect(pending).rejects.toMatchObject({ code: 'ECONNRESET' });
    // the late answer meets a closed socket and goes nowhere
    answer({ healthy: true });
    await expect(get(`${address.url}/healthz`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(server.address).toBeUndefined();
    await server.stop();
  });
});
