// The page size and page token of the list calls that walk rows by (created_at, id): opaque to callers
// (base64url of the cursor), checked on the way back in so a forged or foreign token is an
// INVALID_ARGUMENT naming page_token, never a query with garbage in it.

import { ledger_page_size_max } from '../constants';
import type { PageCursor } from '../ledger/store';
import type { FieldViolation } from '../errors';

export function pageToken(cursor: PageCursor): string {
  return Buffer.from(JSON.stringify([cursor.created_at, cursor.id])).toString('base64url');
}

export function pageCursor(token: string, violations: FieldViolation[]): PageCursor | undefined {
  if (token === '') return undefined;
  try {
    const [created_at, id] = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown[];
    if (typeof created_at === 'string' && !Number.isNaN(Date.parse(created_at)) && typeof id === 'string' && id.length <= 32) return { created_at, id };
  } catch {
    // reported below
  }
  violations.push({ field: 'page_token', description: 'is not a token this call returned' });
  return undefined;
}

const page_size_default = 50;

/** The page size asked for: 0 means the default; above the bound is a violation. */
export function pageSize(requested: number, violations: FieldViolation[]): number {
  if (requested > ledger_page_size_max) violations.push({ field: 'page_size', description: `must be at most ${ledger_page_size_max}` });
  return requested === 0 ? page_size_default : Math.min(requested, ledger_page_size_max);
}
