// A PostgreSQL database of its own per test run or benchmark: created on the shared server
// (PAYCORE_TEST_DATABASE_URL names its maintenance database), migrated, dropped afterwards.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../core/ledger/store';

export const admin_database_url = process.env.PAYCORE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `paycore_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: admin_database_url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(admin_database_url);
  url.pathname = `/${name}`;
  if (options.migrate !== false) await migrate(url.toString());
  return {
    url: url.toString(),
    name,
    async drop() {
      const client = new pg.Client({ connectionString: admin_database_url });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
