// ReconService (proto/paycore/v1/recon.proto): operators' reconciliation calls over
// core/recon. Every call covers all merchants, so it needs a platform app (merchants '*'); the
// role each method needs is in core/auth/policy.ts.

import * as grpc from '@grpc/grpc-js';
import { DifferenceClass, DifferenceState, ReconServiceDefinition } from '../../proto/gen/paycore/v1/recon';
import type * as R from '../../proto/gen/paycore/v1/recon';
import { callerOf } from '../auth/guard';
import type { Caller } from '../auth/authenticator';
import { ledger_page_size_max } from '../constants';
import { dependencyFailure, invalidFields, PaycoreError, toServiceError, type FieldViolation } from '../errors';
import type { Logger } from '../log';
import { dayReport, reportCsv, reportHtml, type DayReport } from '../recon/report';
import { readsFormat, reconcileDay, type StatementParsers } from '../recon/run';
import { ReconError, type DifferenceState as StoreState, type ReconStore, type StoredDifference } from '../recon/store';
import type { ReconPool } from '../recon/parallel';
import { RowFormatError } from '../recon/format';
import type { DifferenceClass as DomainClass } from '../recon/types';
import { grpcDefinition } from './admin';
import type { Channel } from '../../channels/channel';
import { ChannelError } from '../../channels/channel';
import type { ActDeps } from '../recon/act';
import { pullDay } from '../recon/schedule';

export const recon_service = grpcDefinition(ReconServiceDefinition);

/** What ReconService needs: the store, the worker pool for re-runs, the pool's days. */
export interface ReconRuntime {
  store: ReconStore;
  pool: ReconPool;
  pool_days: number;
  /** The adapters' statement parsers (a stored statement is read again by its format's). */
  parsers: StatementParsers;
  /** The adapters: RerunDay downloads the statement again from a channel that can. */
  channels?: ReadonlyMap<string, Channel>;
  /** The automatic actions after a run; absent: none. */
  act?: ActDeps;
}

const page_size_default = 50;
const channel_pattern = /^[A-Za-z0-9_-]{1,32}$/;
const date_pattern = /^\d{4}-\d{2}-\d{2}$/;
const reason_length_max = 500;

type Handler<Req, Res> = grpc.handleUnaryCall<Req, Res>;

const classes: Record<DomainClass, DifferenceClass> = {
  CHANNEL_ONLY: DifferenceClass.DIFFERENCE_CLASS_CHANNEL_ONLY,
  OURS_ONLY: DifferenceClass.DIFFERENCE_CLASS_OURS_ONLY,
  AMOUNT_MISMATCH: DifferenceClass.DIFFERENCE_CLASS_AMOUNT_MISMATCH,
  FEE_MISMATCH: DifferenceClass.DIFFERENCE_CLASS_FEE_MISMATCH,
  STATUS_MISMATCH: DifferenceClass.DIFFERENCE_CLASS_STATUS_MISMATCH,
  CUTOFF_SHIFT: DifferenceClass.DIFFERENCE_CLASS_CUTOFF_SHIFT,
  PAID_TWICE: DifferenceClass.DIFFERENCE_CLASS_PAID_TWICE,
  UNLISTED: DifferenceClass.DIFFERENCE_CLASS_UNLISTED,
};
const states: Record<StoreState, DifferenceState> = {
  open: DifferenceState.DIFFERENCE_STATE_OPEN,
  suspense: DifferenceState.DIFFERENCE_STATE_SUSPENSE,
  resolved: DifferenceState.DIFFERENCE_STATE_RESOLVED,
};
const classOfWire = (wire: DifferenceClass) => (Object.keys(classes) as DomainClass[]).find((name) => classes[name] === wire);
const stateOfWire = (wire: DifferenceState) => (Object.keys(states) as StoreState[]).find((name) => states[name] === wire);

export function reconService(runtime: ReconRuntime | undefined, log: Logger): grpc.UntypedServiceImplementation {
  const unary = <Req, Res>(method: string, run: (request: Req, recon: ReconRuntime, caller: Caller) => Promise<Res>): Handler<Req, Res> =>
    (call, callback) => {
      void (async () => {
        try {
          const caller = callerOf(call);
          if (!caller.all_merchants) throw new PaycoreError('FORBIDDEN', `app ${caller.app_id} acts for some merchants only; reconciliation covers them all`);
          if (runtime === undefined) throw new PaycoreError('ILLEGAL_STATE', 'this paycore keeps no books (PAYCORE_DATABASE_URL is not set)');
          callback(null, await run(call.request, runtime, caller));
        } catch (error) {
          const known = asPaycoreError(error);
          if (known === undefined) log.error({ method, err: String(error) }, 'recon call failed');
          callback(toServiceError(known ?? new PaycoreError('INTERNAL', 'internal error')) as grpc.ServiceError, null);
        }
      })();
    };
  return {
    listDifferences: unary('ListDifferences', listDifferences),
    resolveDifference: unary('ResolveDifference', async (request: R.ResolveDifferenceRequest, recon, caller): Promise<R.ResolveDifferenceResponse> => {
      const violations: FieldViolation[] = [];
      if (!/^[1-9]\d{0,18}$/.test(request.differenceId)) violations.push({ field: 'difference_id', description: 'must be a difference id (decimal)' });
      if (request.reason.trim() === '' || request.reason.length > reason_length_max) violations.push({ field: 'reason', description: `must be 1..${reason_length_max} characters` });
      if (violations.length > 0) throw invalidFields(violations);
      const resolved = await recon.store.resolve(BigInt(request.differenceId), request.reason, `app:${caller.app_id}`);
      return { difference: toWire(resolved.difference), changed: resolved.changed };
    }),
    rerunDay: unary('RerunDay', async (request: R.RerunDayRequest, recon): Promise<R.RerunDayResponse> => {
      checkDay(request.channelId, request.businessDate);
      const channel = recon.channels?.get(request.channelId);
      let outcome;
      if (channel?.downloadStatementFile !== undefined) {
        outcome = await pullDay(recon, channel, request.businessDate);
      } else {
        const statement = await recon.store.statementOf(request.channelId, request.businessDate);
        if (statement === undefined) throw new PaycoreError('NOT_FOUND', `no statement of ${request.channelId} for ${request.businessDate} is stored`);
        outcome = await reconcileDay(recon, {
          channel_id: request.channelId,
          date: request.businessDate,
          format: formatOf(statement.format, recon.parsers),
          bytes: statement.bytes,
        });
      }
      const report = await dayReport(recon.store, request.channelId, request.businessDate);
      return {
        differencesAdded: outcome.differences_added,
        postingsAdded: outcome.postings_added,
        report: report === undefined ? undefined : reportToWire(report),
      };
    }),
    getDayReport: unary('GetDayReport', async (request: R.GetDayReportRequest, recon): Promise<R.GetDayReportResponse> => {
      checkDay(request.channelId, request.businessDate);
      const report = await dayReport(recon.store, request.channelId, request.businessDate);
      if (report === undefined) throw new PaycoreError('NOT_FOUND', `${request.channelId} ${request.businessDate} has not been reconciled`);
      return { report: reportToWire(report), csv: reportCsv(report), html: reportHtml(report) };
    }),
  };
}

async function listDifferences(request: R.ListDifferencesRequest, recon: ReconRuntime): Promise<R.ListDifferencesResponse> {
  const violations: FieldViolation[] = [];
  if (request.channelId !== '' && !channel_pattern.test(request.channelId)) violations.push({ field: 'channel_id', description: 'must be 1..32 of [A-Za-z0-9_-]' });
  if (request.businessDate !== '' && !isDate(request.businessDate)) violations.push({ field: 'business_date', description: 'must be a date YYYY-MM-DD' });
  const state = request.state === DifferenceState.DIFFERENCE_STATE_UNSPECIFIED ? undefined : stateOfWire(request.state);
  if (request.state !== DifferenceState.DIFFERENCE_STATE_UNSPECIFIED && state === undefined) violations.push({ field: 'state', description: 'is not a difference state' });
  const found_class = request.differenceClass === DifferenceClass.DIFFERENCE_CLASS_UNSPECIFIED ? undefined : classOfWire(request.differenceClass);
  if (request.differenceClass !== DifferenceClass.DIFFERENCE_CLASS_UNSPECIFIED && found_class === undefined) violations.push({ field: 'difference_class', description: 'is not a difference class' });
  if (request.pageSize > ledger_page_size_max) violations.push({ field: 'page_size', description: `must be at most ${ledger_page_size_max}` });
  if (request.pageToken !== '' && !/^[1-9]\d{0,18}$/.test(request.pageToken)) violations.push({ field: 'page_token', description: 'is not a token this call returned' });
  if (violations.length > 0) throw invalidFields(violations);
  const page_size = request.pageSize === 0 ? page_size_default : request.pageSize;
  const rows = await recon.store.listDifferences({
    channel_id: request.channelId || undefined, business_date: request.businessDate || undefined, state, class: found_class,
    after_id: request.pageToken === '' ? undefined : BigInt(request.pageToken), page_size: page_size + 1,
  });
  const page = rows.slice(0, page_size);
  return { differences: page.map(toWire), nextPageToken: rows.length > page_size ? String(page[page.length - 1]!.difference_id) : '' };
}

function toWire(d: StoredDifference): R.Difference {
  return {
    differenceId: String(d.difference_id), channelId: d.channel_id, businessDate: d.business_date, differenceClass: classes[d.class], kind: d.kind,
    group: d.grp,
    merchantId: d.merchant_id ?? '', paymentId: d.payment_id ?? '', currency: d.currency, channelAmount: d.channel_minor, oursAmount: d.ours_minor,
    suspenseAmount: d.suspense_minor, state: states[d.state], action: d.action, createdAt: d.created_at, updatedAt: d.updated_at, resolution: d.resolution ?? '',
  };
}

function reportToWire(report: DayReport): R.DayReport {
  return {
    channelId: report.channel_id, businessDate: report.business_date, statementSha256: report.statement_sha256, runs: report.runs,
    channelRows: report.channel_rows, oursRows: report.ours_rows, matchedCount: report.matched_count,
    matchedChannelAmount: report.matched_channel_minor, matchedOursAmount: report.matched_ours_minor,
    classes: report.classes.map((c) => ({ differenceClass: classes[c.class], count: c.count, unresolved: c.unresolved })),
    suspenseOpened: report.suspense_opened_minor, suspenseCleared: report.suspense_cleared_minor, poolRows: report.pool_rows,
  };
}

function isDate(value: string): boolean {
  return date_pattern.test(value) && !Number.isNaN(Date.parse(`${value}T00:00:00Z`));
}

function checkDay(channel_id: string, business_date: string): void {
  const violations: FieldViolation[] = [];
  if (!channel_pattern.test(channel_id)) violations.push({ field: 'channel_id', description: 'must be 1..32 of [A-Za-z0-9_-]' });
  if (!isDate(business_date)) violations.push({ field: 'business_date', description: 'must be a date YYYY-MM-DD' });
  if (violations.length > 0) throw invalidFields(violations);
}

function formatOf(stored: string, parsers: StatementParsers): string {
  if (!readsFormat(stored, parsers)) throw new PaycoreError('ILLEGAL_STATE', `the stored statement's format ${stored} is not one this paycore reads`);
  return stored;
}

function asPaycoreError(error: unknown): PaycoreError | undefined {
  if (error instanceof PaycoreError) return error;
  if (error instanceof ReconError) {
    const reason = { INVALID_ARGUMENT: 'INVALID_FIELD', FAILED_PRECONDITION: 'ILLEGAL_STATE', NOT_FOUND: 'NOT_FOUND' } as const;
    return new PaycoreError(reason[error.reason], error.message);
  }
  if (error instanceof ChannelError) return new PaycoreError('DEPENDENCY_DOWN', `the channel's statement could not be fetched (${error.code}: ${error.message}); retry`);
  if (error instanceof RowFormatError) return new PaycoreError('ILLEGAL_STATE', `the stored statement does not read: ${error.message}`);
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|57P0[1-3]|08\d{3})$/.test(code)) return dependencyFailure(error, 'PostgreSQL') as PaycoreError;
  return undefined;
}
