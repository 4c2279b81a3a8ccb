// Which role each gRPC method needs. A method absent here is refused (FORBIDDEN) to every
// caller: a new RPC is closed until someone decides who may call it (auth.test.ts checks that
// every served method is listed).

import type { AppRole } from '../routing/apps';

/** `authenticated`: any known app (server reflection). */
export type Requirement = AppRole | 'authenticated';

const payment_methods: Record<string, AppRole> = {
  CreatePayment: 'payments:write',
  ClosePayment: 'payments:write',
  ConfirmPayment: 'payments:write',
  GetPayment: 'payments:read',
  WatchPayment: 'payments:read',
  GetRefund: 'payments:read',
  ListPaymentOptions: 'payments:read',
  CreateRefund: 'refunds:write',
  BindCard: 'payments:write',
  ConfirmBinding: 'payments:write',
  UnbindCard: 'payments:write',
  ListCards: 'payments:read',
};

/** LedgerService (the books): the query side is payments:read, the ledger ledger:read and
 * ledger:write; the merchant or platform scope is checked by the handler. */
const ledger_methods: Record<string, AppRole> = {
  ListPayments: 'payments:read',
  ListRefunds: 'payments:read',
  GetBalances: 'ledger:read',
  ListAccountEntries: 'ledger:read',
  GetTrialBalance: 'ledger:read',
  ExportMerchantDay: 'ledger:read',
  GetMerchantBookSettings: 'ledger:read',
  SetMerchantBookSettings: 'ledger:write',
  CloseDay: 'ledger:write',
  RunSettlement: 'ledger:write',
  PlaceHold: 'ledger:write',
  ReleaseHold: 'ledger:write',
};

/** ReconService (reconciliation): reading is ledger:read, changing ledger:write; the handler
 * also requires a platform app (merchants '*'). */
const recon_methods: Record<string, AppRole> = {
  ListDifferences: 'ledger:read',
  GetDayReport: 'ledger:read',
  ResolveDifference: 'ledger:write',
  RerunDay: 'ledger:write',
};

/** PayoutService (core/payouts): the merchant scope is checked by the handler. */
const payout_methods: Record<string, AppRole> = {
  CreatePayout: 'payouts:write',
  GetPayout: 'payouts:read',
  ListPayouts: 'payouts:read',
  CreateTransfer: 'payouts:write',
  GetTransfer: 'payouts:read',
  GetMemberWallet: 'payouts:read',
};

/** SplitService (core/splits): the merchant scope is checked by the handler. */
const split_methods: Record<string, AppRole> = {
  CreateSplit: 'splits:write',
  GetSplit: 'splits:read',
  ListSplits: 'splits:read',
};

/** Admin services need their role for every method. */
const admin_services: Record<string, AppRole> = {
  'paycore.v1.RoutingAdminService': 'admin:routing',
  'paycore.v1.MerchantAdminService': 'admin:merchants',
  'paycore.v1.AppAdminService': 'admin:apps',
  'paycore.v1.NotificationAdminService': 'admin:notifications',
  'paycore.v1.TimerAdminService': 'admin:timers',
  'paycore.v1.RiskAdminService': 'admin:risk',
  'paycore.v1.PayoutAdminService': 'admin:payouts',
  // Money out like payouts: settling what a channel left unanswered in a split.
  'paycore.v1.SplitAdminService': 'admin:payouts',
};

const authenticated_services = new Set(['grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection']);

/** Services served without any caller identity: load balancers probe health. */
export const open_services: ReadonlySet<string> = new Set(['grpc.health.v1.Health']);

/** The requirement of a method path (`/package.Service/Method`), or undefined: refuse. */
export function requirementOf(path: string): Requirement | undefined {
  const match = /^\/([^/]+)\/([^/]+)$/.exec(path);
  if (match === null) return undefined;
  const [, service, method] = match as unknown as [string, string, string];
  if (service === 'paycore.v1.PaymentService') return Object.hasOwn(payment_methods, method) ? payment_methods[method] : undefined;
  if (service === 'paycore.v1.LedgerService') return Object.hasOwn(ledger_methods, method) ? ledger_methods[method] : undefined;
  if (service === 'paycore.v1.ReconService') return Object.hasOwn(recon_methods, method) ? recon_methods[method] : undefined;
  if (service === 'paycore.v1.PayoutService') return Object.hasOwn(payout_methods, method) ? payout_methods[method] : undefined;
  if (service === 'paycore.v1.SplitService') return Object.hasOwn(split_methods, method) ? split_methods[method] : undefined;
  if (Object.hasOwn(admin_services, service)) return admin_services[service];
  if (authenticated_services.has(service)) return 'authenticated';
  return undefined;
}

export function serviceOf(path: string): string {
  return path.split('/')[1] ?? '';
}
