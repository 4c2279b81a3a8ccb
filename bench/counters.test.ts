// The bench's counters read real servers of their own: what a client sends shows up in the
// deltas, per operation, and the bench's own INFO calls do not.

import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { natsCounts, netOfRest, parseCommandStats, perOperation, redisCounts, type Counts } from './counters';
import { startPrivateNats, startPrivateRedis, type DependencyServer } from '../testing/deps';
import { freePort } from '../testing/stack';

let nats: DependencyServer;
let redis_server: DependencyServer;
let monitor_url: string;

beforeAll(async () => {
  const monitor_port = await freePort();
  nats = await startPrivateNats(`http_port: ${monitor_port}`);
  monitor_url = `http://127.0.0.1:${monitor_port}`;
  redis_server = await startPrivateRedis();
});

afterAll(async () => {
  await nats?.close();
  await redis_server?.close();
});

describe('bench counters', () => {
  test('bench counters - parseCommandStats reads calls and usec per command and leaves INFO out of the totals', () => {
    const info = '# Commandstats\r\ncmdstat_evalsha:calls=4,usec=536,usec_per_call=134.00,rejected_calls=0,failed_calls=0\r\ncmdstat_info:calls=9,usec=900,usec_per_call=100.00\r\ncmdstat_hincrby:calls=7,usec=14,usec_per_call=2.00\r\n';
    const counts = parseCommandStats(info);
    expect(counts.by_command.evalsha).toEqual({ calls: 4, usec: 536 });
    expect(counts.by_command.info).toEqual({ calls: 9, usec: 900 });
    expect(counts.calls).toBe(11);
    expect(counts.usec).toBe(550);
    expect(parseCommandStats(`${info}used_cpu_sys:1.500000\r\nused_cpu_user:0.250001\r\n`).cpu_us).toBe(1_750_001);
  });

  test('bench counters - netOfRest takes off what the stack does at rest over the step, shared among its operations, never below 0', () => {
    const zero = { operations: 0, nats_bytes_in: 0, nats_bytes_out: 0, redis_commands: 0, redis_us: 0, redis_cpu_us: 0, redis_by_command: {} };
    // 100 creates in 4 s: 6 messages in each, 5 of them at rest (50/s over 4 s = 200, 2 per create).
    const per_op = { ...zero, operations: 100, nats_msgs_in: 6, nats_msgs_out: 7, nats_bytes_in: 3_400, redis_commands: 1, cpu_ms: { paycore: 4, nats: 0.5 } };
    const rest = { ...zero, nats_msgs_in: 50, nats_msgs_out: 75, nats_bytes_in: 5_000, redis_commands: 100, cpu_ms: { paycore: 25, nats: 10 } };
    expect(netOfRest(per_op, rest, 4, 100)).toEqual({
      nats_msgs_in: 4, nats_msgs_out: 4, nats_bytes_in: 3_200, nats_bytes_out: 0, redis_commands: 0, cpu_ms: { paycore: 3, nats: 0.1 },
    });
  });

  test('bench counters - the deltas of a real NATS and Redis count what a client sent, per operation', async () => {
    const redis = new Redis(redis_server.url);
    const nc = await connect({ servers: nats.url });
    try {
      const read = async (): Promise<Counts> => ({ nats: await natsCounts(monitor_url), redis: await redisCounts(redis) });
      const before = await read();
      for (let i = 0; i < 6; i += 1) await redis.set(`k${i}`, 'v');
      await redis.get('k0');
      for (let i = 0; i < 10; i += 1) nc.publish('bench.counters', new Uint8Array(100));
      await nc.flush();
      const after = await read();
      const per = perOperation(before, after, 2);
      expect(per.operations).toBe(2);
      expect(per.redis_commands).toBe(3.5);
      expect(per.redis_by_command.set!.calls).toBe(3);
      expect(per.redis_by_command.get!.calls).toBe(0.5);
      expect(per.redis_by_command.info).toBeUndefined();
      expect(per.nats_msgs_in).toBeGreaterThanOrEqual(5);
      expect(per.nats_bytes_in).toBeGreaterThanOrEqual(500);
    } finally {
      redis.disconnect();
      await nc.close();
    }
  });
});
