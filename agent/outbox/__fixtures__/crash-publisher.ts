/**
 * Child process for the kill -9 test. `post` mode: publishes QoS 1 messages `<round>.<k>` through the outbox from
 * 32 concurrent loops and prints `D <id>` the moment each publish promise resolved (the message is durable); it
 * connects to the broker only after `connectDelayMs`, so a backlog builds up first; the parent kills it with SIGKILL
 * at a random point. `drain` mode: publishes nothing, waits until the outbox is empty, prints `DRAINED`, exits.
 * Usage: node crash-publisher.js <dbFile> <brokerUrl> <topic> <round> <post|drain> <maxMessages> <connectDelayMs>
 */
import mqtt from 'mqtt';
import { Outbox } from '../outbox';

async function main(): Promise<void> {
  const [file, url, topic, round, mode, maxArg, delayArg] = process.argv.slice(2);
  if (!file || !url || !topic || !round || (mode !== 'post' && mode !== 'drain')) {
    throw new Error(`usage: crash-publisher <dbFile> <brokerUrl> <topic> <round> <post|drain> <maxMessages>; received ${process.argv.slice(2).join(' ')}`);
  }
  const max = Number(maxArg ?? '2000');
  const outbox = Outbox.open({ file });
  const client = mqtt.connect(url, { ...outbox.mqttOptions(), clientId: 'crash-agent', reconnectPeriod: 100, manualConnect: true });
  client.on('error', (e) => process.stderr.write(`mqtt error: ${e.message}\n`));
  outbox.attach(client);
  process.stdout.write(`READY ${outbox.depth()}\n`);
  setTimeout(() => client.connect(), mode === 'post' ? Number(delayArg ?? '0') : 0);

  if (mode === 'post') {
    let k = 0;
    const loop = async () => {
      while (k < max) {
        const id = `${round}.${k++}`;
        await outbox.publish(topic, id, { qos: 1, messageClass: 'event' });
        process.stdout.write(`D ${id}\n`);
      }
    };
    await Promise.all(Array.from({ length: 32 }, loop));
    process.stdout.write('DONE\n');
    // Stay up until killed, still sending what is pending.
    setInterval(() => undefined, 1000);
    return;
  }
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  const deadline = Date.now() + 60_000;
  while (outbox.depth() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  process.stdout.write(`DRAINED ${outbox.depth()}\n`);
  await client.endAsync();
  outbox.close();
}

main().catch((e: unknown) => {
  process.stderr.write(`crash-publisher failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(2);
});
