import { register as globalRegistry } from 'prom-client';
import type { RouterObserver } from '../router/observer';
import { AgentMetrics } from './metrics';

/** The value of one sample line, e.g. `alink_agent_messages_in_total{kind="rrpc"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('AgentMetrics', () => {
  it('counts what the agent reports, in Prometheus text format', async () => {
    const m = new AgentMetrics();
    m.setConnection('connecting');
    m.setConnection('connected');
    m.reconnect();
    m.reconnect();
    m.messageIn('property_set');
    m.messageIn('rrpc');
    m.messageIn('rrpc');
    m.messageOut('reply');
    m.messageOut('event_post');
    m.rejection(460);
    m.rejection('6304');
    m.rejection(460);
    m.observeHandler('service', 0.02);
    m.observeHandler('service', 3);
    m.observeHandler('service', -1);
    m.rrpcBudgetMiss();
    m.setOutboxDepth(12, 3456);
    m.outboxDrop('event', 'ttl');
    m.outboxDrop('property', 'overflow');
    m.outboxDrop('event', 'ttl');
    const text = await m.metrics();

    expect(m.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(text).toContain('# TYPE alink_agent_connection_state gauge');
    expect(sample(text, 'alink_agent_connection_state{state="connected"}')).toBe(1);
    for (const s of ['idle', 'connecting', 'reconnecting', 'stopped']) expect(sample(text, `alink_agent_connection_state{state="${s}"}`)).toBe(0);
    expect(sample(text, 'alink_agent_reconnects_total')).toBe(2);
    expect(sample(text, 'alink_agent_messages_in_total{kind="property_set"}')).toBe(1);
    expect(sample(text, 'alink_agent_messages_in_total{kind="rrpc"}')).toBe(2);
    expect(sample(text, 'alink_agent_messages_out_total{kind="reply"}')).toBe(1);
    expect(sample(text, 'alink_agent_messages_out_total{kind="event_post"}')).toBe(1);
    expect(sample(text, 'alink_agent_rejections_total{code="460"}')).toBe(2);
    expect(sample(text, 'alink_agent_rejections_total{code="6304"}')).toBe(1);
    expect(text).toContain('# TYPE alink_agent_handler_duration_seconds histogram');
    expect(sample(text, 'alink_agent_handler_duration_seconds_count{kind="service"}')).toBe(2);
    expect(sample(text, 'alink_agent_handler_duration_seconds_sum{kind="service"}')).toBeCloseTo(3.02);
    expect(sample(text, 'alink_agent_handler_duration_seconds_bucket{le="0.025",kind="service"}')).toBe(1);
    expect(sample(text, 'alink_agent_handler_duration_seconds_bucket{le="5",kind="service"}')).toBe(2);
    expect(sample(text, 'alink_agent_rrpc_budget_misses_total')).toBe(1);
    expect(sample(text, 'alink_agent_outbox_rows')).toBe(12);
    expect(sample(text, 'alink_agent_outbox_bytes')).toBe(3456);
    expect(sample(text, 'alink_agent_outbox_drops_total{class="event",reason="ttl"}')).toBe(2);
    expect(sample(text, 'alink_agent_outbox_drops_total{class="property",reason="overflow"}')).toBe(1);
  });

  it("is the router's observer, counting its kinds in snake_case", async () => {
    const m = new AgentMetrics({ processMetrics: false });
    const observer: RouterObserver = m;
    observer.messageIn('propertySet');
    m.messageIn('property_set');
    observer.messageIn('customTopic');
    observer.handlerDone('rawRrpc', 0.5);
    observer.rejection(429);
    observer.rrpcBudgetMiss();
    const text = await m.metrics();
    expect(sample(text, 'alink_agent_messages_in_total{kind="property_set"}')).toBe(2);
    expect(sample(text, 'alink_agent_messages_in_total{kind="custom_topic"}')).toBe(1);
    expect(sample(text, 'alink_agent_handler_duration_seconds_count{kind="raw_rrpc"}')).toBe(1);
    expect(sample(text, 'alink_agent_rejections_total{code="429"}')).toBe(1);
    expect(sample(text, 'alink_agent_rrpc_budget_misses_total')).toBe(1);
  });

  it('times a handler', async () => {
    const m = new AgentMetrics({ processMetrics: false });
    const end = m.startHandler('rrpc');
    await new Promise((r) => setTimeout(r, 30));
    const seconds = end();
    expect(seconds).toBeGreaterThanOrEqual(0.025);
    expect(sample(await m.metrics(), 'alink_agent_handler_duration_seconds_sum{kind="rrpc"}')).toBeCloseTo(seconds, 6);
  });

  it('reports this process from its own registry', async () => {
    const text = await new AgentMetrics().metrics();
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(1_000_000);
    expect(sample(text, 'nodejs_heap_used_bytes')).toBeGreaterThan(0);
    expect(sample(text, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(sample(text, 'process_start_time_seconds')).toBeCloseTo(Date.now() / 1000 - process.uptime(), -1);
    expect(sample(text, 'process_open_fds')).toBeGreaterThan(2);
    expect(await new AgentMetrics({ processMetrics: false }).metrics()).not.toContain('process_');
  });

  it('keeps two instances apart, and away from the global registry', async () => {
    const globalBefore = await globalRegistry.metrics();
    const a = new AgentMetrics({ defaultLabels: { device: 'pk/a' } });
    const b = new AgentMetrics({ defaultLabels: { device: 'pk/b' } });
    a.messageIn('custom');
    a.messageIn('custom');
    b.messageIn('custom');
    a.setConnection('connected');
    b.setConnection('reconnecting');
    const [ta, tb] = await Promise.all([a.metrics(), b.metrics()]);
    expect(sample(ta, 'alink_agent_messages_in_total{kind="custom",device="pk/a"}')).toBe(2);
    expect(sample(tb, 'alink_agent_messages_in_total{kind="custom",device="pk/b"}')).toBe(1);
    expect(ta).not.toContain('pk/b');
    expect(sample(ta, 'alink_agent_connection_state{state="connected",device="pk/a"}')).toBe(1);
    expect(sample(tb, 'alink_agent_connection_state{state="connected",device="pk/b"}')).toBe(0);
    expect(await globalRegistry.metrics()).toBe(globalBefore);
    expect(globalBefore).not.toContain('alink_agent_');
  });

  it('bounds the values a label takes', async () => {
    const m = new AgentMetrics({ processMetrics: false, maxLabelValues: 3 });
    for (const code of [1, 2, 3, 4, 5, 1]) m.rejection(code);
    m.messageIn('x'.repeat(200));
    const text = await m.metrics();
    expect(sample(text, 'alink_agent_rejections_total{code="1"}')).toBe(2);
    expect(sample(text, 'alink_agent_rejections_total{code="3"}')).toBe(1);
    expect(sample(text, 'alink_agent_rejections_total{code="other"}')).toBe(2);
    expect(text).not.toContain('code="4"');
    expect(sample(text, `alink_agent_messages_in_total{kind="${'x'.repeat(64)}"}`)).toBe(1);
  });
});
